namespace SmbLayer.Transport;

/// <summary>State of a connection; changed only through <see cref="SmbConnection"/>'s transition method, which logs it.</summary>
internal enum ConnectionState
{
    Created,
    Connecting,
    Negotiating,
    Ready,
    Disconnected,
    Reconnecting,
    Closed,
}

/// <summary>One state change of a connection; a loss carries its error and why it happened.</summary>
internal readonly record struct ConnectionStateChange(ConnectionState From, ConnectionState To, Exception? Error, SmbConnectionLossReason Reason);
