using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

/// <summary>
/// The transport's log messages, source-generated: each checks <see cref="ILogger.IsEnabled"/> before
/// it boxes, allocates or formats anything, so a client without logging pays nothing for them.
/// </summary>
internal static partial class TransportLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Connection {Host}:{Port} changing from {Old} to {New}")]
    public static partial void StateChanged(this ILogger logger, string host, int port, ConnectionState old, ConnectionState @new);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Connection {Host}:{Port} changing from {Old} to {New}: {Reason}")]
    public static partial void StateChangedByLoss(this ILogger logger, string host, int port, ConnectionState old, ConnectionState @new, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Negotiated SMB {Dialect} with {Host}:{Port} (max read {MaxRead}, max write {MaxWrite}, signing {Signing}, cipher {Cipher})")]
    public static partial void Negotiated(this ILogger logger, string dialect, string host, int port, int maxRead, int maxWrite, string signing, CipherId cipher);

    [LoggerMessage(Level = LogLevel.Error, Message = "Reconnect to {Host}:{Port} cannot succeed: {Reason}")]
    public static partial void ReconnectImpossible(this ILogger logger, string host, int port, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Reconnect attempt {Attempt} to {Host}:{Port} failed: {Reason}")]
    public static partial void ReconnectAttemptFailed(this ILogger logger, int attempt, string host, int port, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Connection {Host}:{Port} restored after {Attempts} attempt(s)")]
    public static partial void Restored(this ILogger logger, string host, int port, int attempts);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Late success for abandoned {Command} #{MessageId}; compensating")]
    public static partial void CompensatingLateSuccess(this ILogger logger, Smb2Command command, ulong messageId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Closed handle {FileId} of an unreadable CREATE response: {Status}")]
    public static partial void UnreadableCreateClosed(this ILogger logger, Smb2FileId fileId, NtStatus status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Closing handle {FileId} of an unreadable CREATE response failed: {Reason}")]
    public static partial void UnreadableCreateCloseFailed(this ILogger logger, Smb2FileId fileId, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Server-initiated message with no handler registered; dropped")]
    public static partial void ServerMessageDropped(this ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Host}:{Port} sent server-initiated messages faster than they are handled; more than {Limit} waiting; {Dropped} dropped so far")]
    public static partial void ServerMessageOverflow(this ILogger logger, string host, int port, int limit, long dropped);

    [LoggerMessage(Level = LogLevel.Error, Message = "Server-message handler failed")]
    public static partial void ServerMessageHandlerFailed(this ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Message}")]
    public static partial void RequestExpired(this ILogger logger, string message);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Request} cancelled; no answer within the grace period")]
    public static partial void CancelGraceExpired(this ILogger logger, PendingRequest request);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Requests to {Host}:{Port} wait for credits with none in flight; ECHO to ask for more")]
    public static partial void EchoForCredits(this ILogger logger, string host, int port);

    [LoggerMessage(Level = LogLevel.Debug, Message = "ECHO probe to {Host}:{Port} ended: {Reason}")]
    public static partial void EchoEnded(this ILogger logger, string host, int port, string reason);
}
