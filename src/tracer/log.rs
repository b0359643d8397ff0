//! Where the tracer's -v lines go: a sink every stage of setting up a run
//! writes to, and the caller (`app`) decides whether anything is printed.

/// Where -v messages go.
pub type Log<'a> = &'a dyn Fn(std::fmt::Arguments<'_>);

/// A log that says nothing: for a line already said by an earlier attempt.
pub(crate) fn quiet(_: std::fmt::Arguments<'_>) {}
