using Microsoft.Extensions.Logging;

namespace SmbLayer.Client;

/// <summary>The client layer's log messages, source-generated (see <c>TransportLog</c>).</summary>
internal static partial class ClientLog
{
    [LoggerMessage(Level = LogLevel.Debug, Message = "Closing {State} connection to {Host}:{Port}")]
    public static partial void ClosingConnection(this ILogger logger, string state, string host, int port);

    [LoggerMessage(Level = LogLevel.Error, Message = "A connection event handler failed")]
    public static partial void ConnectionEventHandlerFailed(this ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Handle to '{Name}' on {Share} lost: {Reason}")]
    public static partial void HandleLost(this ILogger logger, string name, string share, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "A handle-lost event handler failed")]
    public static partial void HandleLostHandlerFailed(this ILogger logger, Exception exception);
}
