-- wrk script that only reports: one `RESULT key=value ...` line at the end, for scripts.
-- The request itself is wrk's default (the URL and -H headers from the command line).
-- Other scripts load it (`dofile`) for `result`, and may add their own fields to the line.

-- Prints the RESULT line of a run, `extra` (" key=value ...") at its end.
function result(summary, latency, extra)
   local secs = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
      "non2xx=%d connect=%d read=%d write=%d timeout=%d%s\n",
      summary.requests, secs, summary.requests / secs,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      e.status, e.connect, e.read, e.write, e.timeout, extra or ""))
end

function done(summary, latency, requests)
   result(summary, latency)
end
