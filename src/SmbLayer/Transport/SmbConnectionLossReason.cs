namespace SmbLayer;

/// <summary>Why a connection to a server was lost (<see cref="SmbConnectionEventArgs.Reason"/>).</summary>
public enum SmbConnectionLossReason
{
    /// <summary>The server closed the TCP connection.</summary>
    ServerClosed,

    /// <summary>The network failed: a reset, an unreachable host, an error sending or receiving.</summary>
    NetworkError,

    /// <summary>The server stopped answering: nothing arrived within the echo timeout of a liveness probe.</summary>
    ServerUnresponsive,

    /// <summary>The server sent what the protocol forbids (a malformed frame, a bad signature, an answer to no request).</summary>
    ProtocolViolation,

    /// <summary>
    /// No longer reported: a session the server deleted or expired is now recovered on its own, and the connection stays
    /// up for its other sessions. Kept so code that names it still compiles.
    /// </summary>
    [Obsolete("A deleted or expired session is recovered on its own; the connection is no longer dropped for it.")]
    SessionInvalidated,

    /// <summary>A local failure ended the connection: a file being uploaded could not be read, or shrank during a WRITE.</summary>
    LocalError,
}
