//! Naming the environment variable behind an invalid value or a conflict.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;

use clap::builder::StyledStr;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Command, Error, Parser};

/// `P::parse()`, except that an invalid value, or a conflict, caused by an
/// environment variable is reported with the variable's name
/// ([`note_env_source`]). Prints the error and exits as clap does (status
/// 2; 0 for `--help`).
pub fn parse_command_line<P: Parser>() -> P {
    let args: Vec<OsString> = std::env::args_os().collect();
    P::try_parse_from(&args)
        .unwrap_or_else(|error| note_env_source(error, &P::command(), &args).exit())
}

/// `error`, which `cmd` returned for `args`, with a tip naming the
/// environment variable that caused it:
///
/// ```text
/// error: invalid value '0' for '--replicas <REPLICAS>': expected a whole number ...
///
///   tip: the value comes from the environment variable STACK_REPLICAS
///
/// For more information, try '--help'.
/// ```
///
/// clap names only the flag, which someone who ran `STACK_REPLICAS=0 stack
/// up` never typed. The same goes for two arguments that cannot be used
/// together when one (or both) was set by a variable: a tip names each
/// such variable (not for an `exclusive` argument: clap does not name the
/// other side). Any other error, and values given on the command line
/// (even when the variable is set too), come back as they were. The kind,
/// and so the exit status, stays clap's.
///
/// Whether a value was typed is left to clap rather than guessed from
/// `args` (`--flag=v`, `-fv`, aliases, `--`, the flags of subcommands):
/// clap reads a variable only for an argument absent from the command line,
/// so a variable caused the error exactly when parsing again without it no
/// longer fails this way.
pub fn note_env_source(
    mut error: Error,
    cmd: &Command,
    args: impl IntoIterator<Item = impl Into<OsString>>,
) -> Error {
    let conflict = error.kind() == ErrorKind::ArgumentConflict;
    let blamed: &[ContextKind] = match error.kind() {
        ErrorKind::ValueValidation | ErrorKind::InvalidValue => &[ContextKind::InvalidArg],
        ErrorKind::ArgumentConflict => &[ContextKind::InvalidArg, ContextKind::PriorArg],
        _ => return error,
    };
    // Built, arguments display as the error shows them (`--replicas
    // <REPLICAS>`); the same flag may exist in several subcommands.
    let mut built = cmd.clone();
    built.build();
    let mut candidates = Vec::new();
    for kind in blamed {
        for shown_as in context_strings(&error, *kind) {
            variables_shown_as(&built, shown_as, &mut candidates);
        }
    }
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let sources: Vec<(String, OsString)> = candidates
        .into_iter()
        .filter(
            |(_, name)| match without_env(cmd.clone(), name).try_get_matches_from(&args) {
                Ok(_) => true,
                Err(again) => !same_refusal(&again, &error),
            },
        )
        .collect();
    if sources.is_empty() {
        return error;
    }

    // clap prints each of these as a `tip:` line between the message and
    // the `--help` hint; keep any it already has.
    let mut tips = match error.remove(ContextKind::Suggested) {
        Some(ContextValue::StyledStrs(tips)) => tips,
        _ => Vec::new(),
    };
    let literal = cmd.get_styles().get_literal();
    for (shown_as, name) in sources {
        let name = name.to_string_lossy();
        let mut tip = StyledStr::new();
        // Writing to memory cannot fail.
        let _ = if conflict {
            write!(
                tip,
                "{literal}{shown_as}{literal:#} is set by the environment variable {literal}{name}{literal:#}"
            )
        } else {
            write!(
                tip,
                "the value comes from the environment variable {literal}{name}{literal:#}"
            )
        };
        tips.push(tip);
    }
    error.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
    error
}

/// The strings `error` holds under `kind`.
fn context_strings(error: &Error, kind: ContextKind) -> Vec<&str> {
    match error.get(kind) {
        Some(ContextValue::String(one)) => vec![one.as_str()],
        Some(ContextValue::Strings(many)) => many.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Adds to `found` each variable read by an argument of `cmd` or of its
/// subcommands that errors show as `shown_as`, with that display.
fn variables_shown_as(cmd: &Command, shown_as: &str, found: &mut Vec<(String, OsString)>) {
    for arg in cmd.get_arguments() {
        let Some(name) = arg.get_env() else { continue };
        if arg.to_string() == shown_as && !found.iter().any(|(_, known)| known == name) {
            found.push((shown_as.to_owned(), name.to_owned()));
        }
    }
    for subcommand in cmd.get_subcommands() {
        variables_shown_as(subcommand, shown_as, found);
    }
}

/// `cmd` with no argument, in any subcommand, reading the variable `name`.
fn without_env(cmd: Command, name: &OsStr) -> Command {
    cmd.mut_args(|arg| {
        if arg.get_env() == Some(name) {
            arg.env(None::<&str>)
        } else {
            arg
        }
    })
    .mut_subcommands(|subcommand| without_env(subcommand, name))
}

/// Whether `a` and `b` refuse the same value for the same argument, or the
/// same two arguments together.
fn same_refusal(a: &Error, b: &Error) -> bool {
    a.kind() == b.kind()
        && [
            ContextKind::InvalidArg,
            ContextKind::InvalidValue,
            ContextKind::PriorArg,
        ]
        .into_iter()
        .all(|kind| a.get(kind) == b.get(kind))
}

#[cfg(test)]
mod tests {
    use clap::Arg;

    use super::*;
    use crate::whole_number;

    /// Sets variables that only the calling test reads: each test has its
    /// own `prefix`, so tests running in parallel do not see each other's.
    fn set_env(prefix: &str, vars: &[(&str, &str)]) {
        for (name, value) in vars {
            // SAFETY: this test binary reads the environment only through
            // std::env (clap's `Arg::env` does), which locks against
            // `set_var`; no C code reads it behind std's back.
            unsafe { std::env::set_var(format!("{prefix}_{name}"), value) };
        }
    }

    /// `tool [--count N | --rate R] [--mode fast|slow] [probe [--count N]]`;
    /// the root's `--count` (also `-c`) reads `{prefix}_COUNT`, `--rate`
    /// `{prefix}_RATE`, `--mode` `{prefix}_MODE` and probe's `--count`
    /// `{prefix}_PROBE_COUNT`. Variables are read here, so set them first.
    fn tool(prefix: &str) -> Command {
        // clap without its `string` feature takes only `'static` names; a
        // few bytes leaked per test.
        let var = |name: &str| -> &'static str { format!("{prefix}_{name}").leak() };
        let count = |name: &str| {
            Arg::new("count")
                .long("count")
                .env(var(name))
                .value_parser(whole_number(1u8..=16, "3"))
        };
        Command::new("tool")
            .arg(count("COUNT").short('c'))
            .arg(
                Arg::new("mode")
                    .long("mode")
                    .env(var("MODE"))
                    .value_parser(["fast", "slow"]),
            )
            .arg(
                Arg::new("rate")
                    .long("rate")
                    .env(var("RATE"))
                    .conflicts_with("count"),
            )
            .subcommand(Command::new("probe").arg(count("PROBE_COUNT")))
    }

    /// The text of clap's error for `args`, and the error after
    /// `note_env_source`.
    fn refusal(prefix: &str, args: &[&str]) -> (String, Error) {
        let cmd = tool(prefix);
        let refuse = || cmd.clone().try_get_matches_from(args).expect_err("refused");
        (refuse().to_string(), note_env_source(refuse(), &cmd, args))
    }

    #[test]
    fn a_bad_value_from_the_environment_names_the_variable() {
        let prefix = "CLI_VALUES_TEST_FROM_ENV";
        set_env(prefix, &[("COUNT", "0")]);
        let (_, noted) = refusal(prefix, &["tool"]);
        assert_eq!(
            noted.to_string(),
            "error: invalid value '0' for '--count <count>': \
             expected a whole number from 1 to 16 such as 3, got \"0\"\n\
             \n  tip: the value comes from the environment variable CLI_VALUES_TEST_FROM_ENV_COUNT\n\
             \nFor more information, try '--help'.\n"
        );
        assert_eq!(noted.kind(), ErrorKind::ValueValidation);
        assert_eq!(noted.exit_code(), 2);
    }

    #[test]
    fn a_value_on_the_command_line_is_not_blamed_on_the_environment() {
        let prefix = "CLI_VALUES_TEST_TYPED";
        // The variable holds the very value typed: only where clap took it
        // from tells them apart.
        set_env(prefix, &[("COUNT", "0")]);
        for args in [
            &["tool", "--count", "0"][..],
            &["tool", "--count=0"],
            &["tool", "-c", "0"],
            &["tool", "-c0"],
            &["tool", "--count", "40"],
            &["tool", "--count", "0", "probe"],
        ] {
            let (error, noted) = refusal(prefix, args);
            assert_eq!(noted.to_string(), error, "{args:?}");
            assert!(!noted.to_string().contains("environment"), "{args:?}");
        }
    }

    #[test]
    fn a_subcommand_flag_names_its_own_variable() {
        // The root's --count is valid in the environment, probe's is not.
        let prefix = "CLI_VALUES_TEST_SUBCOMMAND";
        set_env(prefix, &[("COUNT", "2"), ("PROBE_COUNT", "0")]);
        let (_, noted) = refusal(prefix, &["tool", "probe"]);
        let tip = "tip: the value comes from the environment variable \
                   CLI_VALUES_TEST_SUBCOMMAND_PROBE_COUNT\n";
        assert!(noted.to_string().contains(tip), "{noted}");
        // Typed after the subcommand, it is probe's own flag.
        let (error, noted) = refusal(prefix, &["tool", "probe", "--count", "0"]);
        assert_eq!(noted.to_string(), error);

        // The other way round: the root's variable is the bad one.
        let prefix = "CLI_VALUES_TEST_ROOT";
        set_env(prefix, &[("COUNT", "0"), ("PROBE_COUNT", "2")]);
        let (_, noted) = refusal(prefix, &["tool", "probe"]);
        let tip = "tip: the value comes from the environment variable CLI_VALUES_TEST_ROOT_COUNT\n";
        assert!(noted.to_string().contains(tip), "{noted}");
    }

    #[test]
    fn a_value_outside_the_possible_values_names_the_variable_too() {
        let prefix = "CLI_VALUES_TEST_POSSIBLE";
        set_env(prefix, &[("MODE", "medium")]);
        let (_, noted) = refusal(prefix, &["tool"]);
        assert_eq!(noted.kind(), ErrorKind::InvalidValue);
        let text = noted.to_string();
        assert!(text.contains("[possible values: fast, slow]"), "{text}");
        assert!(
            text.contains(
                "tip: the value comes from the environment variable CLI_VALUES_TEST_POSSIBLE_MODE\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_conflict_with_a_variable_names_it() {
        let prefix = "CLI_VALUES_TEST_CONFLICT";
        set_env(prefix, &[("RATE", "5")]);
        let (_, noted) = refusal(prefix, &["tool", "--count", "3"]);
        assert_eq!(noted.kind(), ErrorKind::ArgumentConflict);
        assert_eq!(
            noted.to_string(),
            "error: the argument '--count <count>' cannot be used with '--rate <rate>'\n\
             \n  tip: --rate <rate> is set by the environment variable CLI_VALUES_TEST_CONFLICT_RATE\n\
             \nUsage: tool --count <count>\n\
             \nFor more information, try '--help'.\n"
        );
        // Typed, both flags are the user's own doing.
        let (error, noted) = refusal(prefix, &["tool", "--count", "3", "--rate", "5"]);
        assert_eq!(noted.to_string(), error);

        // Both from the environment: both are named.
        let prefix = "CLI_VALUES_TEST_CONFLICT_BOTH";
        set_env(prefix, &[("RATE", "5"), ("COUNT", "3")]);
        let (_, noted) = refusal(prefix, &["tool"]);
        let text = noted.to_string();
        for name in ["RATE", "COUNT"] {
            let tip = format!("environment variable {prefix}_{name}\n");
            assert!(text.contains(&tip), "{text}");
        }
    }

    #[test]
    fn other_errors_are_left_alone() {
        // clap stops at the unknown flag before reading the bad variable.
        let prefix = "CLI_VALUES_TEST_OTHER";
        set_env(prefix, &[("COUNT", "0")]);
        let (error, noted) = refusal(prefix, &["tool", "--verbose"]);
        assert_eq!(noted.kind(), ErrorKind::UnknownArgument);
        assert_eq!(noted.to_string(), error);
    }
}
