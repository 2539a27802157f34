-- wrk script: every request likes one post (the "hot" post) as a DIFFERENT user.
--
-- Usage: wrk -t<T> ... -s bench/hot_likes.lua <url> -- <tokens file> <first user> <last user> <post id> <T>
--
-- The tokens file has one token secret a line, line k for user k (`being-social seed --tokens-out`).
-- Thread i takes its own contiguous slice of users first..last, so no two requests carry the same
-- user while the slice lasts; if a thread runs out it starts its slice again (those likes are then
-- repeats, answered 200 with the count unchanged) and `done` reports how many times that happened.
-- At the end one `RESULT key=value ...` line is printed for scripts.

-- `result`, which prints the RESULT line: report.lua, beside this file.
dofile(debug.getinfo(1, "S").source:match("^@(.-)[^/]*$") .. "report.lua")

local threads = {}
local next_tid = 0

function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   table.insert(threads, thread)
end

function init(args)
   local file = args[1]
   local first, last = tonumber(args[2]), tonumber(args[3])
   local post = args[4]
   local nthreads = tonumber(args[5])
   if not (file and first and last and post and nthreads) then
      error("arguments: <tokens file> <first user> <last user> <post id> <threads>")
   end
   local per = math.floor((last - first + 1) / nthreads)
   local lo = first + tid * per
   local hi = lo + per - 1
   if tid == nthreads - 1 then hi = last end
   tokens = {}
   local n, line_no = 0, 0
   for line in io.lines(file) do
      line_no = line_no + 1
      if line_no > hi then break end
      if line_no >= lo then
         n = n + 1
         tokens[n] = "Token " .. line
      end
   end
   if n == 0 then error("no tokens for users " .. lo .. ".." .. hi) end
   count, sent, wrapped = n, 0, 0
   path = "/posts/post-reaction/" .. post .. "/"
end

function request()
   sent = sent + 1
   local i = sent % count
   if i == 0 then i = count end
   if sent > count and i == 1 then wrapped = wrapped + 1 end
   return wrk.format("POST", path, { ["Authorization"] = tokens[i] })
end

function done(summary, latency, requests)
   local wraps = 0
   for _, thread in ipairs(threads) do
      wraps = wraps + (thread:get("wrapped") or 0)
   end
   result(summary, latency, string.format(" wraps=%d", wraps))
end
