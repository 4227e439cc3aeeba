//! pyopt's own options: one registry, read from `PYOPT_*` environment variables and
//! `-X pyopt.*` command-line flags.
//!
//! Each option has exactly two spellings: `PYOPT_<KEY>` in the environment and
//! `-X pyopt.<key>` on the command line; the command line wins. Like CPython's `PYTHON*`
//! variables, an empty environment value counts as unset, and `-E`/`-I` make pyopt ignore
//! the environment. Any other `PYOPT_*` variable or `-X pyopt.*` flag is an error, so a
//! typo never silently runs with defaults.

use std::fmt;
use std::path::PathBuf;

/// The value type of an option, which also decides how its text is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `1/0`, `true/false`, `yes/no`, `on/off` (any case); `-X pyopt.key` alone means on.
    Bool,
    /// A decimal integer in `0..=max`.
    Count { max: u64 },
    /// A non-empty filesystem path, used as given.
    Path,
}

/// The registry entry of one option.
#[derive(Debug)]
pub struct OptionSpec {
    /// Lower-case key: `-X pyopt.<key>` and `PYOPT_<KEY>`.
    pub key: &'static str,
    pub kind: Kind,
    /// The default, as text in the option's own syntax (empty: no default).
    pub default: &'static str,
    pub help: &'static str,
    /// Whether the feature the option controls exists yet. Options for features that
    /// have not landed are parsed and validated so scripts can set them today, and
    /// `python_optimizer.config()` reports them as inactive.
    pub active: bool,
}

const BOOL_WORDS: &str = "1, 0, true, false, yes, no, on, off";

/// Every pyopt option. Keep README.md's option table in step with this list.
pub static OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "jit",
        kind: Kind::Bool,
        default: "1",
        help: "compile hot functions to native code",
        active: true,
    },
    OptionSpec {
        key: "jit_threshold",
        kind: Kind::Count { max: 1_000_000_000 },
        default: "1000",
        help: "calls before a function is hot, as seen in discovery windows (0 or 1: compile on first call, hook always on)",
        active: true,
    },
    OptionSpec {
        key: "jit_log",
        kind: Kind::Bool,
        default: "0",
        help: "print one line per compile, refusal and deoptimization to stderr",
        active: true,
    },
    OptionSpec {
        key: "jit_background",
        kind: Kind::Bool,
        default: "1",
        help: "compile hot functions on a background thread (the interpreter runs them \
               meanwhile); 0: the call that makes a function hot waits for the compiler",
        active: true,
    },
    OptionSpec {
        key: "jit_fastmath",
        kind: Kind::Bool,
        default: "0",
        help: "let LLVM reassociate float arithmetic and fuse multiply-adds (results may \
               differ from python3 in the last bits)",
        active: true,
    },
    OptionSpec {
        key: "jit_dump",
        kind: Kind::Path,
        default: "",
        help: "write each compiled unit's LLVM IR (before and after optimization) and \
               assembly to this directory",
        active: true,
    },
    OptionSpec {
        key: "cache",
        kind: Kind::Bool,
        default: "1",
        help: "share compiled code through the on-disk object cache",
        active: true,
    },
    OptionSpec {
        key: "cache_dir",
        kind: Kind::Path,
        default: "",
        help: "cache directory (default: $XDG_CACHE_HOME/pyopt or ~/.cache/pyopt)",
        active: true,
    },
    OptionSpec {
        key: "cache_size",
        kind: Kind::Count { max: 1 << 30 },
        default: "1024",
        help: "size limit of the cache in MiB; least recently used entries are removed \
               beyond it",
        active: true,
    },
    OptionSpec {
        key: "trace",
        kind: Kind::Path,
        default: "",
        help: "write a Perfetto trace of the whole run to this file (processes it starts \
               write FILE-stem.<pid>.ext beside it)",
        active: true,
    },
    OptionSpec {
        key: "trace_calls",
        kind: Kind::Bool,
        default: "0",
        help: "with trace: record every Python call and return as a slice (a call that \
               runs compiled code is one slice, whatever it calls natively)",
        active: true,
    },
    OptionSpec {
        key: "trace_buffer",
        kind: Kind::Count { max: 1 << 28 },
        default: "0",
        help: "with trace: events kept per thread, 32 bytes each, the newest when more \
               happen (0: 65536, or 1048576 with trace_calls)",
        active: true,
    },
];

/// The command-line flag that prints the option table and exits.
pub const HELP_XOPTION: &str = "pyopt.help";

impl OptionSpec {
    pub fn env_name(&self) -> String {
        format!("PYOPT_{}", self.key.to_ascii_uppercase())
    }

    pub fn xoption_name(&self) -> String {
        format!("pyopt.{}", self.key)
    }

    fn accepted(&self) -> String {
        match self.kind {
            Kind::Bool => format!("one of {BOOL_WORDS}"),
            Kind::Count { max } => format!("a whole number from 0 to {max}"),
            Kind::Path => "a non-empty path".to_owned(),
        }
    }

    fn parse(&self, text: &str) -> Option<Value> {
        match self.kind {
            Kind::Bool => match text.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Some(Value::Bool(true)),
                "0" | "false" | "no" | "off" => Some(Value::Bool(false)),
                _ => None,
            },
            Kind::Count { max } => text
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= max)
                .map(Value::Count),
            Kind::Path => (!text.is_empty()).then(|| Value::Path(PathBuf::from(text))),
        }
    }
}

/// A parsed option value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Count(u64),
    Path(PathBuf),
    /// A path option left at its built-in default, which later code computes.
    Unset,
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{}", if *b { "1" } else { "0" }),
            Value::Count(n) => write!(f, "{n}"),
            Value::Path(p) => write!(f, "{}", p.display()),
            Value::Unset => Ok(()),
        }
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Default,
    Environment,
    CommandLine,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::Environment => "environment",
            Source::CommandLine => "command line",
        }
    }
}

/// One resolved option.
#[derive(Debug, Clone)]
pub struct Setting {
    pub spec: &'static OptionSpec,
    pub value: Value,
    pub source: Source,
}

/// All pyopt options, resolved for this process.
#[derive(Debug, Clone)]
pub struct Options {
    settings: Vec<Setting>,
}

/// What the command line asked pyopt to do.
#[derive(Debug)]
pub enum Request {
    Run(Options),
    /// `-X pyopt.help`: print [`help_text`] and exit 0.
    ShowHelp,
}

/// A bad pyopt option; printed as one line and the process exits with status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pyopt-python: {}\nRun `pyopt-python -X {HELP_XOPTION}` to list pyopt's options.",
            self.message
        )
    }
}

impl std::error::Error for ConfigError {}

impl Options {
    /// Resolves every option from the environment (pass an empty iterator under `-E`/`-I`)
    /// and from CPython's parsed `-X` options (`key` or `key=value`, as in
    /// `sys._xoptions`). Options that do not start with `pyopt.` belong to CPython and
    /// are ignored.
    pub fn resolve<E, X>(environment: E, xoptions: X) -> Result<Request, ConfigError>
    where
        E: IntoIterator<Item = (String, String)>,
        X: IntoIterator<Item = String>,
    {
        let mut settings: Vec<Setting> = OPTIONS
            .iter()
            .map(|spec| Setting {
                spec,
                value: if spec.default.is_empty() {
                    Value::Unset
                } else {
                    spec.parse(spec.default)
                        .expect("every registry default parses")
                },
                source: Source::Default,
            })
            .collect();

        let mut environment: Vec<(String, String)> = environment
            .into_iter()
            .filter(|(name, _)| name.starts_with("PYOPT_"))
            .collect();
        environment.sort();
        for (name, text) in environment {
            let spec = find_option(&name, " (environment variable)", OptionSpec::env_name)?;
            if text.is_empty() {
                continue;
            }
            let value = spec.parse(&text).ok_or_else(|| ConfigError {
                message: format!(
                    "invalid value {text:?} for {name} (environment variable); expected {}",
                    spec.accepted()
                ),
            })?;
            set(&mut settings, spec, value, Source::Environment);
        }

        let mut help = false;
        for option in xoptions {
            if !option.starts_with("pyopt.") {
                continue;
            }
            let (name, text) = match option.split_once('=') {
                Some((name, text)) => (name, Some(text)),
                None => (option.as_str(), None),
            };
            if name == HELP_XOPTION {
                help = true;
                continue;
            }
            let spec = find_option(&format!("-X {name}"), "", |s| {
                format!("-X {}", s.xoption_name())
            })?;
            let value = match (text, spec.kind) {
                (None, Kind::Bool) => Value::Bool(true),
                (None, _) => {
                    return Err(ConfigError {
                        message: format!(
                            "-X {name} needs a value: -X {name}=VALUE, where VALUE is {}",
                            spec.accepted()
                        ),
                    });
                }
                (Some(text), _) => spec.parse(text).ok_or_else(|| ConfigError {
                    message: format!(
                        "invalid value {text:?} for -X {name}; expected {}",
                        spec.accepted()
                    ),
                })?,
            };
            set(&mut settings, spec, value, Source::CommandLine);
        }

        if help {
            return Ok(Request::ShowHelp);
        }
        Ok(Request::Run(Options { settings }))
    }

    pub fn settings(&self) -> &[Setting] {
        &self.settings
    }

    /// `(PYOPT_<KEY>, value)` for every option set on the command line. Start-up exports
    /// these so child processes inherit them: CPython forwards only its own `-X` options
    /// to multiprocessing workers.
    pub fn command_line_exports(&self) -> Vec<(String, String)> {
        self.settings
            .iter()
            .filter(|s| s.source == Source::CommandLine)
            .map(|s| (s.spec.env_name(), s.value.to_string()))
            .collect()
    }

    /// The resolved value of `key`; `None` only for a key not in [`OPTIONS`].
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.settings
            .iter()
            .find(|s| s.spec.key == key)
            .map(|s| &s.value)
    }
}

fn set(settings: &mut [Setting], spec: &'static OptionSpec, value: Value, source: Source) {
    let setting = settings
        .iter_mut()
        .find(|s| std::ptr::eq(s.spec, spec))
        .expect("every registry option has a setting");
    setting.value = value;
    setting.source = source;
}

/// The option spelled `name` (as `spelling` spells options), or an error listing the
/// known spellings; `context` follows the name in the message.
fn find_option(
    name: &str,
    context: &str,
    spelling: impl Fn(&OptionSpec) -> String,
) -> Result<&'static OptionSpec, ConfigError> {
    OPTIONS
        .iter()
        .find(|spec| spelling(spec) == name)
        .ok_or_else(|| ConfigError {
            message: format!(
                "unknown pyopt option {name}{context}; known: {}",
                OPTIONS.iter().map(spelling).collect::<Vec<_>>().join(", ")
            ),
        })
}

/// The text `-X pyopt.help` prints.
pub fn help_text() -> String {
    let mut text = String::from(
        "pyopt options: set as environment variables or -X flags (the flag wins).\n\
         Empty environment values count as unset; -E and -I ignore PYOPT_* variables.\n\n",
    );
    for spec in OPTIONS {
        let default = match spec.default {
            "" => "unset",
            d => d,
        };
        let status = if spec.active { "" } else { " [not active yet]" };
        text.push_str(&format!(
            "  {:<22} -X {:<20} {}{}\n  {:<22}    value: {}; default: {}\n",
            spec.env_name(),
            spec.xoption_name(),
            spec.help,
            status,
            "",
            spec.accepted(),
            default,
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn xopts(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn run(e: &[(&str, &str)], x: &[&str]) -> Result<Options, ConfigError> {
        match Options::resolve(env(e), xopts(x))? {
            Request::Run(options) => Ok(options),
            Request::ShowHelp => panic!("unexpected help request"),
        }
    }

    #[test]
    fn defaults_apply_without_settings() {
        let options = run(&[("HOME", "/root")], &["utf8", "dev"]).unwrap();
        assert_eq!(options.get("jit"), Some(&Value::Bool(true)));
        assert_eq!(options.get("jit_threshold"), Some(&Value::Count(1000)));
        assert_eq!(options.get("cache_dir"), Some(&Value::Unset));
        assert!(
            options
                .settings()
                .iter()
                .all(|s| s.source == Source::Default)
        );
    }

    #[test]
    fn environment_and_command_line_with_command_line_winning() {
        let options = run(
            &[("PYOPT_JIT", "off"), ("PYOPT_JIT_THRESHOLD", "7")],
            &["pyopt.jit_threshold=0", "pyopt.trace=out.pftrace"],
        )
        .unwrap();
        assert_eq!(options.get("jit"), Some(&Value::Bool(false)));
        assert_eq!(options.get("jit_threshold"), Some(&Value::Count(0)));
        assert_eq!(
            options.get("trace"),
            Some(&Value::Path(PathBuf::from("out.pftrace")))
        );
        let sources: Vec<_> = options.settings().iter().map(|s| s.source).collect();
        assert_eq!(sources[0], Source::Environment);
        assert_eq!(sources[1], Source::CommandLine);
    }

    #[test]
    fn command_line_settings_are_exported_in_environment_syntax() {
        let options = run(
            &[("PYOPT_CACHE", "0")],
            &[
                "pyopt.jit",
                "pyopt.jit_threshold=5",
                "pyopt.cache_dir=/tmp/c",
            ],
        )
        .unwrap();
        let exports = options.command_line_exports();
        assert_eq!(
            exports,
            vec![
                ("PYOPT_JIT".to_owned(), "1".to_owned()),
                ("PYOPT_JIT_THRESHOLD".to_owned(), "5".to_owned()),
                ("PYOPT_CACHE_DIR".to_owned(), "/tmp/c".to_owned()),
            ]
        );
        for (name, text) in exports {
            let reparsed = run(&[(name.as_str(), text.as_str())], &[]).unwrap();
            assert_eq!(
                reparsed.get(&name[6..].to_ascii_lowercase()),
                options.get(&name[6..].to_ascii_lowercase())
            );
        }
    }

    #[test]
    fn bare_bool_flag_means_on_and_words_are_case_insensitive() {
        let options = run(&[("PYOPT_CACHE", "NO")], &["pyopt.jit"]).unwrap();
        assert_eq!(options.get("jit"), Some(&Value::Bool(true)));
        assert_eq!(options.get("cache"), Some(&Value::Bool(false)));
    }

    #[test]
    fn empty_environment_value_counts_as_unset() {
        let options = run(&[("PYOPT_JIT", "")], &[]).unwrap();
        assert_eq!(options.get("jit"), Some(&Value::Bool(true)));
    }

    #[test]
    fn unknown_options_are_errors_naming_the_option() {
        let err = run(&[("PYOPT_JITT", "1")], &[]).unwrap_err().to_string();
        assert!(err.contains("unknown pyopt option PYOPT_JITT"), "{err}");
        assert!(err.contains("PYOPT_JIT_THRESHOLD"), "{err}");
        let err = run(&[], &["pyopt.tarce=x"]).unwrap_err().to_string();
        assert!(err.contains("unknown pyopt option -X pyopt.tarce"), "{err}");
        assert!(err.contains("-X pyopt.trace"), "{err}");
    }

    #[test]
    fn bad_values_are_errors_listing_accepted_values() {
        let err = run(&[("PYOPT_JIT", "maybe")], &[]).unwrap_err().to_string();
        assert!(err.contains("\"maybe\" for PYOPT_JIT"), "{err}");
        assert!(err.contains(BOOL_WORDS), "{err}");
        let err = run(&[], &["pyopt.jit_threshold=-1"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("a whole number from 0 to"), "{err}");
        let err = run(&[], &["pyopt.jit_threshold=99999999999"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("jit_threshold"), "{err}");
        let err = run(&[], &["pyopt.cache_dir"]).unwrap_err().to_string();
        assert!(err.contains("-X pyopt.cache_dir needs a value"), "{err}");
        let err = run(&[], &["pyopt.trace="]).unwrap_err().to_string();
        assert!(err.contains("a non-empty path"), "{err}");
    }

    #[test]
    fn cpython_xoptions_are_left_alone() {
        assert!(run(&[], &["pyopt", "pyoptjit=1", "importtime"]).is_ok());
    }

    #[test]
    fn help_flag_is_recognised_and_text_lists_every_option() {
        assert!(matches!(
            Options::resolve(env(&[]), xopts(&["pyopt.help"])),
            Ok(Request::ShowHelp)
        ));
        let text = help_text();
        for spec in OPTIONS {
            assert!(text.contains(&spec.env_name()));
            assert!(text.contains(&spec.xoption_name()));
        }
    }

    #[test]
    fn every_default_parses() {
        for spec in OPTIONS {
            if !spec.default.is_empty() {
                assert!(spec.parse(spec.default).is_some(), "{}", spec.key);
            }
        }
    }
}
