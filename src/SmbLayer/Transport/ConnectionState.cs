namespace SmbLayer.Transport;

/// <summary>State of a connection; changed only through <see cref="SmbConnection"/>'s transition method, which logs it.</summary>
public enum ConnectionState
{
    Created,
    Connecting,
    Negotiating,
    Ready,
    Disconnected,
    Reconnecting,
    Closed,
}
