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

    /// <summary>The server said the session is gone (STATUS_USER_SESSION_DELETED, STATUS_NETWORK_SESSION_EXPIRED); the client reconnects to set it up again.</summary>
    SessionInvalidated,

    /// <summary>A local failure ended the connection: a file being uploaded could not be read, or shrank during a WRITE.</summary>
    LocalError,
}
