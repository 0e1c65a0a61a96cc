//! The line a binary prints when it stops on an error.

use std::error::Error;

/// `error` and its causes on one line, joined with `: `, each cause only
/// once: many messages already quote the error they wrap (`cannot listen
/// on ADDR: Address already in use (is another ...?)`), and printing the
/// chain as it is (`{:#}` of anyhow) would repeat it.
pub fn error_report(error: &(dyn Error + 'static)) -> String {
    with_causes(error.to_string(), error.source())
}

/// `head`, then `cause` and each of its own causes that the text so far
/// does not quote yet, joined with `: `.
pub fn with_causes(head: String, mut cause: Option<&(dyn Error + 'static)>) -> String {
    let mut report = head;
    while let Some(error) = cause {
        let text = error.to_string();
        if !report.contains(&text) {
            report.push_str(": ");
            report.push_str(&text);
        }
        cause = error.source();
    }
    report
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    /// An error saying `text`, caused by `source`.
    #[derive(Debug)]
    struct Failure {
        text: String,
        source: Option<Box<Failure>>,
    }

    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.text)
        }
    }

    impl Error for Failure {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.source
                .as_deref()
                .map(|source| source as &(dyn Error + 'static))
        }
    }

    fn chain(texts: &[&str]) -> Option<Box<Failure>> {
        texts.split_first().map(|(text, rest)| {
            Box::new(Failure {
                text: (*text).to_owned(),
                source: chain(rest),
            })
        })
    }

    #[test]
    fn each_cause_appears_once() {
        let quoted = chain(&[
            "cannot listen on 127.0.0.1:5000: Address in use (choose another)",
            "Address in use",
            "Address in use",
        ])
        .expect("chain");
        assert_eq!(
            error_report(quoted.as_ref()),
            "cannot listen on 127.0.0.1:5000: Address in use (choose another)"
        );
        let plain = chain(&["service stopped", "cannot bind", "Address in use"]).expect("chain");
        assert_eq!(
            error_report(plain.as_ref()),
            "service stopped: cannot bind: Address in use"
        );
    }
}
