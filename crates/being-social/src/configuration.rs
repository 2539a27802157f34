//! Where each setting's value comes from: its flag, else its environment variable, else its key
//! in the TOML file named by `--config`, else its default. Clap parses every value, whatever its
//! source: [`Cli::load_from`] only picks, per setting, the text of the first source that has one
//! and remembers which source that was, so that an error names the setting as it was given
//! (`invalid value "abc" for DATABASE_POOL_SIZE: invalid digit found in string`). The settings
//! are declared in [`crate::settings`], the subcommands in [`crate::cli`].

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Display;

use clap::error::{ContextKind, ContextValue};
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};
use crate::settings::Settings;

/// Why the command line or a setting cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Usage errors, `--help` and `--version`: [`clap::Error::exit`] prints them.
    #[error(transparent)]
    Usage(#[from] clap::Error),
    /// A setting that cannot be used: one line naming it and where its value came from.
    #[error("{0}")]
    Invalid(String),
}

const CONFIG_ENV: &str = "CONFIG_FILE";

/// Settings that may hold a password: an error about one never repeats its value.
const SECRET_SETTINGS: &[&str] = &[
    "redis_url",
    "s3_endpoint",
    "s3_access_key_id",
    "s3_secret_access_key",
];

/// The command line as first read: every value a text, the settings allowed after the
/// subcommand, and `--help` saying where else each may come from. The environment is left to
/// [`Cli::load_from`], which reads it through its own lookup.
fn command() -> clap::Command {
    Cli::command().mut_args(|arg| {
        let (Some(env), key) = (arg.get_env(), arg.get_id().as_str()) else {
            return arg;
        };
        let toml = if key == "config" {
            String::new()
        } else {
            format!(" [toml: {key}]")
        };
        let help = format!(
            "{} [env: {}]{toml}",
            arg.get_help().map(ToString::to_string).unwrap_or_default(),
            env.display()
        );
        let arg = arg.env(None).global(true).help(help);
        arg.value_parser(clap::builder::ValueParser::string())
    })
}

/// The declared settings (flag, environment variable, default), in the order of `--help`.
fn setting_args() -> Vec<clap::Arg> {
    Settings::augment_args(clap::Command::new("settings"))
        .get_arguments()
        .cloned()
        .collect()
}

/// Every environment variable the server reads: the settings' and `CONFIG_FILE`.
pub fn environment_variables() -> Vec<String> {
    let settings = setting_args().into_iter();
    let vars = settings.filter_map(|arg| Some(arg.get_env()?.to_string_lossy().into_owned()));
    vars.chain([CONFIG_ENV.to_owned()]).collect()
}

/// The setting (its key) whose value a parser refused, and why.
fn refused(err: &clap::Error) -> Option<(String, String)> {
    // The argument as `--pool-size <POOL_SIZE>`.
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let key = arg.strip_prefix("--")?.split(' ').next()?.replace('-', "_");
    Some((key, std::error::Error::source(err)?.to_string()))
}

fn invalid(message: String) -> ConfigError {
    ConfigError::Invalid(message)
}

impl Cli {
    /// The command line `args` (the program's name first), and the settings from them, from
    /// `env` (a lookup of environment variables), from the file these name, and the defaults.
    ///
    /// # Errors
    /// Usage errors; a bad value from any source, an unknown key or bad TOML in the file, a
    /// missing file; a setting that breaks a rule between settings.
    pub fn load_from<I, T>(
        args: I,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = command().try_get_matches_from(args)?;
        let command = match matches.subcommand_name() {
            Some(_) => Some(Command::from_arg_matches(&matches)?),
            None => None,
        };
        let var = |name: &str| match env(name).map(OsString::into_string) {
            Some(Err(_)) => Err(invalid(format!(
                "invalid value for {name}: not valid UTF-8"
            ))),
            found => Ok(found.and_then(Result::ok)),
        };
        let config = match matches.get_one::<String>("config") {
            Some(path) => Some(path.clone()),
            None => var(CONFIG_ENV)?.filter(|path| !path.is_empty()),
        };
        let mut file = config
            .as_deref()
            .map_or_else(|| Ok(toml::Table::new()), read_file)?;
        let file_name = config.unwrap_or_default();

        // Per setting: its text and how an error about it begins, from the first source with it.
        let (args, mut found) = (setting_args(), HashMap::new());
        if let Some(key) = file
            .keys()
            .find(|key| !args.iter().any(|a| a.get_id() == *key))
        {
            let help = "see being-social --help for the keys";
            return Err(invalid(format!(
                "unknown key \"{key}\" in {file_name} ({help})"
            )));
        }
        for arg in &args {
            let key = arg.get_id().as_str();
            let var_name = arg
                .get_env()
                .map_or_else(String::new, |e| e.to_string_lossy().into());
            // A refused secret is named, never repeated.
            let shown = |text: &str| {
                if SECRET_SETTINGS.contains(&key) {
                    "***".to_owned()
                } else {
                    text.to_owned()
                }
            };
            let (text, prefix) = if matches.value_source(key) == Some(ValueSource::CommandLine) {
                let text = matches.get_one::<String>(key).cloned().unwrap_or_default();
                let flag = key.replace('_', "-");
                let prefix = format!("invalid value \"{}\" for --{flag}", shown(&text));
                (text, prefix)
            } else if let Some(text) = var(&var_name)? {
                let prefix = format!("invalid value \"{}\" for {var_name}", shown(&text));
                (text, prefix)
            } else if let Some(value) = file.remove(key) {
                let text = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                let prefix = format!("invalid {key} \"{}\" in {file_name}", shown(&text));
                if value.is_array() || value.is_table() || value.is_datetime() {
                    return Err(invalid(format!(
                        "{prefix}: expected a string, number or boolean"
                    )));
                }
                (text, prefix)
            } else {
                continue;
            };
            found.insert(key.to_owned(), (text, prefix));
        }
        let blame = |key: &str, reason: &dyn Display| {
            let default = || {
                let arg = args.iter().find(|arg| arg.get_id() == key);
                let text = arg.and_then(|arg| arg.get_default_values().first());
                let text = text.map_or_else(String::new, |t| t.to_string_lossy().into_owned());
                format!("invalid {key} \"{text}\" (the default)")
            };
            let prefix = found
                .get(key)
                .map_or_else(default, |(_, prefix)| prefix.clone());
            invalid(format!("{prefix}: {reason}"))
        };
        let text = |key: &str| found.get(key).map(|(text, _)| text.clone());
        let settings = Settings::from_texts(text).map_err(|err| match refused(&err) {
            Some((key, reason)) => blame(&key, &reason),
            None => err.into(),
        })?;
        settings
            .check_rules(|key| found.contains_key(key))
            .map_err(|(key, why)| blame(key, &why))?;
        let config = (!file_name.is_empty()).then_some(file_name);
        Ok(Self {
            command,
            config,
            settings,
        })
    }
}

fn read_file(path: &str) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| invalid(format!("cannot read the config file {path}: {err}")))?;
    text.parse().map_err(|err: toml::de::Error| {
        let line = err
            .span()
            .map(|span| text[..span.start.min(text.len())].lines().count());
        let at = line.map_or_else(String::new, |line| format!(" at line {}", line.max(1)));
        invalid(format!(
            "invalid TOML in {path}{at}: {}",
            err.message().trim()
        ))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::io::Write;
    use std::path::PathBuf;
    use std::time::Duration;

    use being_social_domain::pagination::PageLimits;
    use being_social_domain::services::TokenLifetimes;
    use being_social_http::ratelimit::{RateLimits, StoreFailure};

    use super::*;
    use crate::settings::{SecretUrl, show_duration};

    /// The settings from `args` (flags), `env` and a config file with `toml` (when given).
    fn resolve(
        args: &[&str],
        env: &[(&str, &str)],
        toml: Option<&str>,
    ) -> Result<Settings, String> {
        let file = toml.map(|text| {
            let mut file = tempfile().expect("a temporary file");
            file.1.write_all(text.as_bytes()).unwrap();
            file
        });
        let mut argv = vec!["being-social".to_owned()];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        if let Some((path, _)) = &file {
            argv.push("--config".into());
            argv.push(path.display().to_string());
        }
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let result = Cli::load_from(argv, |name| env.get(name).map(OsString::from))
            .map(|cli| cli.settings)
            .map_err(|e| e.to_string());
        if let Some((path, _)) = file {
            let _ = std::fs::remove_file(path);
        }
        result
    }

    fn tempfile() -> std::io::Result<(PathBuf, std::fs::File)> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "being-social-config-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        Ok((path.clone(), std::fs::File::create(path)?))
    }

    /// For one setting: flag beats env beats file beats default.
    fn check_precedence(key: &str, values: [&str; 3], read: impl Fn(&Settings) -> String) {
        let arg = setting_args()
            .into_iter()
            .find(|arg| arg.get_id() == key)
            .unwrap();
        let (name, var) = (
            arg.get_long().unwrap(),
            arg.get_env().unwrap().to_str().unwrap(),
        );
        let [flag, env, file] = values;
        let flag_arg = format!("--{name}={flag}");
        let env_var = [(var, env)];
        let toml = format!("{key} = {}", toml_literal(file));
        let default = read(&Settings::default());
        let expect = |s: Result<Settings, String>| read(&s.unwrap());
        let want = |text: &str| read(&resolve(&[&format!("--{name}={text}")], &[], None).unwrap());
        assert_eq!(
            expect(resolve(&[&flag_arg], &env_var, Some(&toml))),
            want(flag),
            "{key}: flag"
        );
        assert_eq!(
            expect(resolve(&[], &env_var, Some(&toml))),
            want(env),
            "{key}: env"
        );
        assert_eq!(
            expect(resolve(&[], &[], Some(&toml))),
            want(file),
            "{key}: file"
        );
        assert_eq!(expect(resolve(&[], &[], None)), default, "{key}: default");
        assert_ne!(want(file), default, "{key}: the test must change something");
    }

    /// Numbers and booleans are written bare in TOML, the rest as strings.
    fn toml_literal(text: &str) -> String {
        if text.parse::<i64>().is_ok() || text == "true" || text == "false" {
            text.to_owned()
        } else {
            format!("\"{text}\"")
        }
    }

    #[test]
    fn precedence_for_every_kind_of_setting() {
        check_precedence("pool_size", ["3", "4", "5"], |s| s.pool_size.to_string());
        check_precedence(
            "database_url",
            ["postgres://a@h/db", "sqlite://b.db", "sqlite://c.db"],
            |s| s.database_url.clone(),
        );
        check_precedence("bind", ["0.0.0.0:1", "0.0.0.0:2", "0.0.0.0:3"], |s| {
            s.bind.to_string()
        });
        check_precedence("media_dir", ["/a", "/b", "/c"], |s| {
            s.media_dir.display().to_string()
        });
        check_precedence("workers", ["1", "2", "3"], |s| format!("{:?}", s.workers));
        check_precedence("rate_limits", ["on", "off", "false"], |s| {
            s.rate_limits.to_string()
        });
        check_precedence("auth_rate_window", ["1s", "2m", "3"], |s| {
            format!("{:?}", s.auth_rate_window)
        });
        check_precedence("log_format", ["human", "json", "json"], |s| {
            format!("{:?}", s.log_format)
        });
        check_precedence("default_page_size", ["7", "8", "9"], |s| {
            s.default_page_size.to_string()
        });
    }

    #[test]
    fn flags_after_a_subcommand_count_too() {
        let cli =
            Cli::load_from(["being-social", "migrate", "--pool-size", "3"], |_| None).unwrap();
        assert_eq!(cli.settings.pool_size, 3);
    }

    #[test]
    fn rate_limits_off_from_the_environment() {
        let settings = resolve(&[], &[("RATE_LIMITS", "off")], None).unwrap();
        assert_eq!(settings.rate_limits(), RateLimits::off());
        let settings = resolve(&["--rate-limits", "off"], &[], None).unwrap();
        assert_eq!(settings.rate_limits(), RateLimits::off());
        assert!(Settings::default().rate_limits().auth.is_some());
        assert_eq!(
            Settings::for_database("sqlite://x", "m".into()).rate_limits(),
            RateLimits::off()
        );
    }

    #[test]
    fn bad_values_name_the_setting_and_the_source() {
        let err = resolve(&["--pool-size", "abc"], &[], None).unwrap_err();
        assert_eq!(
            err,
            "invalid value \"abc\" for --pool-size: invalid digit found in string"
        );
        let err = resolve(&[], &[("DATABASE_POOL_SIZE", "abc")], None).unwrap_err();
        assert_eq!(
            err,
            "invalid value \"abc\" for DATABASE_POOL_SIZE: invalid digit found in string"
        );
        let err = resolve(&[], &[], Some("pool_size = \"abc\"")).unwrap_err();
        assert!(
            err.starts_with("invalid pool_size \"abc\" in ")
                && err.ends_with(".toml: invalid digit found in string"),
            "{err}"
        );
        let err = resolve(&[], &[("RATE_LIMITS", "maybe")], None).unwrap_err();
        assert_eq!(
            err,
            "invalid value \"maybe\" for RATE_LIMITS: expected on or off"
        );
        let err = resolve(&[], &[], Some("auth_rate_window = \"5 fortnights\"")).unwrap_err();
        assert!(
            err.contains("auth_rate_window") && err.contains("unit"),
            "{err}"
        );
        let err = resolve(&[], &[], Some("media_dir = [\n\"a\",\n\"b\"]")).unwrap_err();
        assert!(err.starts_with("invalid media_dir"), "{err}");
        assert!(
            err.ends_with("expected a string, number or boolean"),
            "{err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn rules_between_settings() {
        let err = resolve(&["--default-page-size", "200"], &[], None).unwrap_err();
        assert_eq!(
            err,
            "invalid value \"200\" for --default-page-size: must not exceed max_page_size (100)"
        );
        let ok = resolve(
            &["--default-page-size", "200", "--max-page-size", "500"],
            &[],
            None,
        );
        assert_eq!(
            ok.unwrap().page_limits(),
            PageLimits {
                default: 200,
                max: 500
            }
        );
        let err = resolve(&[], &[("DATABASE_POOL_SIZE", "0")], None).unwrap_err();
        assert_eq!(
            err,
            "invalid value \"0\" for DATABASE_POOL_SIZE: must be at least 1"
        );
        let err = resolve(&[], &[], Some("argon2_memory_kib = 1")).unwrap_err();
        assert!(
            err.starts_with("invalid argon2_memory_kib \"1\" in "),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn token_lifetimes_take_days_and_must_be_in_order() {
        let defaults = Settings::default().token_lifetimes();
        assert_eq!(defaults, TokenLifetimes::default());
        assert_eq!(defaults.idle, Duration::from_secs(30 * 86_400));
        assert_eq!(defaults.absolute, Duration::from_secs(365 * 86_400));
        assert_eq!(show_duration(defaults.idle), "30d");
        assert_eq!(show_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(show_duration(Duration::from_secs(300)), "300s");

        let settings = resolve(
            &["--token-idle-lifetime", "7d"],
            &[("TOKEN_ABSOLUTE_LIFETIME", "90d")],
            Some("token_sweep_interval = \"10m\""),
        )
        .unwrap();
        assert_eq!(
            settings.token_idle_lifetime,
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(
            settings.token_absolute_lifetime,
            Duration::from_secs(90 * 86_400)
        );
        assert_eq!(settings.token_sweep_interval, Duration::from_secs(600));

        let err = resolve(&[], &[("TOKEN_ABSOLUTE_LIFETIME", "7d")], None).unwrap_err();
        assert_eq!(
            err,
            "invalid value \"7d\" for TOKEN_ABSOLUTE_LIFETIME: token_absolute_lifetime (7d) \
             must be at least token_idle_lifetime (30d)"
        );
        let err = resolve(&["--token-idle-lifetime", "400d"], &[], None).unwrap_err();
        assert!(
            err.starts_with("invalid value \"400d\" for --token-idle-lifetime: "),
            "{err}"
        );
        let err = resolve(&[], &[("TOKEN_SWEEP_INTERVAL", "0s")], None).unwrap_err();
        assert_eq!(
            err,
            "invalid value \"0s\" for TOKEN_SWEEP_INTERVAL: must be at least 1"
        );
    }

    #[test]
    fn unknown_keys_and_missing_files_are_errors() {
        let err = resolve(&[], &[], Some("pool_size = 3\npool_sise = 4")).unwrap_err();
        assert!(err.starts_with("unknown key \"pool_sise\" in "), "{err}");
        let err = resolve(&[], &[], Some("[server]\nbind = \"0.0.0.0:1\"")).unwrap_err();
        assert!(err.starts_with("unknown key \"server\""), "{err}");
        let err = resolve(&[], &[], Some("pool_size = ")).unwrap_err();
        assert!(
            err.starts_with("invalid TOML in ") && err.contains("line 1"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        let err = resolve(&["--config", "/nonexistent/being-social.toml"], &[], None).unwrap_err();
        assert!(
            err.starts_with("cannot read the config file /nonexistent/being-social.toml: "),
            "{err}"
        );
        let err = Cli::load_from(["being-social"], |name| {
            (name == "CONFIG_FILE").then(|| "/nonexistent/x.toml".into())
        })
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.toml"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn argon2_costs_reach_the_hasher() {
        use being_social_domain::ports::Credentials as _;
        let settings = resolve(
            &["--argon2-memory-kib", "8192", "--argon2-iterations", "1"],
            &[("ARGON2_PARALLELISM", "2")],
            None,
        )
        .unwrap();
        let hash = settings
            .credentials()
            .unwrap()
            .hash_password("correct horse".into())
            .await
            .unwrap();
        assert!(hash.contains("$m=8192,t=1,p=2$"), "{hash}");
        let default = Settings::default().credentials().unwrap();
        let hash = default.hash_password("x".into()).await.unwrap();
        assert!(hash.contains("$m=19456,t=2,p=1$"), "{hash}");
    }

    #[test]
    fn every_setting_is_in_the_help_and_the_docs() {
        let help = command().render_long_help().to_string();
        let docs = include_str!("../../../docs/configuration.md");
        for arg in setting_args() {
            let (key, flag) = (arg.get_id().as_str(), arg.get_long().unwrap());
            assert_eq!(flag, key.replace('_', "-"), "flag of {key}");
            let env = arg.get_env().unwrap().to_string_lossy().into_owned();
            for name in [format!("--{flag}"), env, key.to_owned()] {
                assert!(help.contains(&name), "{name} missing from --help");
                assert!(
                    docs.contains(&name),
                    "{name} missing from docs/configuration.md"
                );
            }
        }
        assert!(help.contains("--config") && help.contains("CONFIG_FILE"));
    }

    #[test]
    fn a_redis_password_is_never_shown() {
        let settings = resolve(
            &[],
            &[
                ("REDIS_URL", "redis://user:hunter2@cache.internal:6379/2"),
                ("RATE_LIMIT_FAILURE", "closed"),
            ],
            None,
        )
        .unwrap();
        let url = settings.redis_url.clone().unwrap();
        assert_eq!(url.expose(), "redis://user:hunter2@cache.internal:6379/2");
        assert_eq!(url.redacted(), "redis://***@cache.internal:6379/2");
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert_eq!(settings.rate_limit_failure, StoreFailure::Closed);
        let plain = SecretUrl::parse("redis://127.0.0.1:6379").unwrap();
        assert_eq!(plain.redacted(), "redis://127.0.0.1:6379");
        // A refused value is named, not repeated.
        let err = resolve(&[], &[("REDIS_URL", "hunter2 with blanks")], None).unwrap_err();
        assert!(
            err.contains("REDIS_URL") && !err.contains("hunter2"),
            "{err}"
        );
        let defaults = Settings::default();
        assert_eq!(defaults.redis_url, None);
        assert_eq!(defaults.rate_limit_failure, StoreFailure::Open);
        assert_eq!(defaults.redis_timeout, Duration::from_millis(250));
    }

    #[test]
    fn the_example_file_in_the_docs_is_valid() {
        let docs = include_str!("../../../docs/configuration.md");
        let example = docs
            .split("```toml")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a TOML example in docs/configuration.md");
        let settings = resolve(&[], &[], Some(example)).unwrap();
        assert_ne!(settings, Settings::default());
    }
}
