//! The one place where errors become JS errors. Messages say what was wrong and what to do.

use napi::{Error, Status};

use crate::core::{
    adapter::AdapterError,
    errors::{BroadcastError, ServeError, SocketOpError},
};

/// An error for a wrong argument from JS (surfaces with `code: 'InvalidArg'`).
pub fn invalid_arg(message: impl Into<String>) -> Error {
    Error::new(Status::InvalidArg, message.into())
}

/// A failed broadcast: bad input is an argument error, a closed server a runtime failure.
pub fn broadcast_error(error: BroadcastError) -> Error {
    match error {
        BroadcastError::InvalidJson(_) | BroadcastError::InvalidChannel(_) => {
            invalid_arg(format!("broadcast: {error}"))
        }
        BroadcastError::Closed => Error::new(
            Status::GenericFailure,
            "broadcast: the websocket server is closed; start a new one to broadcast again",
        ),
        BroadcastError::QueueFull => Error::new(
            Status::GenericFailure,
            "broadcast: the queue is full; call broadcast from the JS thread, not from server callbacks",
        ),
    }
}

/// A failure to listen, adopt or forward.
pub fn serve_error(error: ServeError) -> Error {
    let hint = match &error {
        ServeError::Listen { .. } => "; choose another port or host (port 0 picks a free port)",
        ServeError::Closed => "; this server was closed",
        ServeError::Adopt(_) | ServeError::Request(_) => "",
    };
    Error::new(Status::GenericFailure, format!("{error}{hint}"))
}

/// A failed operation on one socket: bad arguments are argument errors.
pub fn socket_op_error(error: SocketOpError) -> Error {
    match error {
        SocketOpError::Gone | SocketOpError::AckTimeout => {
            Error::new(Status::GenericFailure, error.to_string())
        }
        SocketOpError::Encode(_)
        | SocketOpError::InvalidJson(_)
        | SocketOpError::InvalidChannel(_) => invalid_arg(error.to_string()),
    }
}

/// A backend that could not be connected; the message says which and what to do.
pub fn adapter_error(error: AdapterError) -> Error {
    Error::new(Status::GenericFailure, error.to_string())
}
