/// Runs each named test body on both backends, as `<name>::postgres` and `<name>::sqlite`, each
/// on a database of its own. A body is an `async fn` of one argument, a [`Start`](crate::Start)
/// type (the running application in `tests/api`, the adapters in `tests/conformance`):
///
/// ```ignore
/// on_both_backends!(signup_then_login, login_failures_look_the_same);
/// ```
///
/// One body may be given how to start instead (a function of the [`Backend`](crate::Backend)
/// that returns a future, e.g. an application with other settings), and attributes per backend
/// (e.g. `#[ignore = "..."]`):
///
/// ```ignore
/// on_both_backends!(uploads_over_the_size_limit_are_413, start: with_settings(|s| ...));
/// on_both_backends!(some_body, postgres: [#[ignore = "adapter bug"]], sqlite: []);
/// ```
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, start: $start:expr $(,)?) => {
        $crate::on_both_backends!(@test $name, $crate::run_with, ($start), [], []);
    };
    ($name:ident, postgres: [$(#[$pg:meta])*], sqlite: [$(#[$sq:meta])*] $(,)?) => {
        $crate::on_both_backends!(@test $name, $crate::run, (), [$(#[$pg])*], [$(#[$sq])*]);
    };
    ($($name:ident),+ $(,)?) => {
        $( $crate::on_both_backends!(@test $name, $crate::run, (), [], []); )+
    };
    (@test $name:ident, $run:path, ($($start:expr)?), [$(#[$pg:meta])*], [$(#[$sq:meta])*]) => {
        mod $name {
            // `$start` is written in the module of the body, and read here.
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$pg])*
            async fn postgres() {
                $run(super::$name, $($start,)? $crate::Backend::Postgres).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$sq])*
            async fn sqlite() {
                $run(super::$name, $($start,)? $crate::Backend::Sqlite).await;
            }
        }
    };
}
