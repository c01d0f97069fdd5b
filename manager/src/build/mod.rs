//! `berth build`: images from a Dockerfile and a context, step by step as
//! docker's classic builder makes them (see `builder`).

pub mod parser;
pub mod shell;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("dockerfile parse error line {line}: {msg}")]
    Parse { line: usize, msg: String },
    #[error(transparent)]
    Shell(#[from] shell::ShellError),
}
