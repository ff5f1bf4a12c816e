using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;

namespace SmbLayer.Session;

/// <summary>The session layer's log messages, source-generated (see <c>TransportLog</c>).</summary>
internal static partial class SessionLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Session 0x{SessionId:X} {Verb} for {User} on {Host}:{Port} (signing {Signing}, encryption {Encryption})")]
    public static partial void SessionReady(this ILogger logger, ulong sessionId, string verb, string user, string host, int port, string signing, string encryption);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session 0x{SessionId:X} on {Host}:{Port}: the server answered {Status}; {Action} (the connection's other sessions go on)")]
    public static partial void SessionRecovering(this ILogger logger, ulong sessionId, string host, int port, string status, string action);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session 0x{SessionId:X} re-authenticated for {User} on {Host}:{Port}")]
    public static partial void SessionReauthenticated(this ILogger logger, ulong sessionId, string user, string host, int port);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kerberos for {User} on {Host} failed, using NTLM (Kerberos desired, not required): {Reason}")]
    public static partial void KerberosFellBackToNtlm(this ILogger logger, string user, string host, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "LOGOFF of session 0x{SessionId:X} failed: {Reason}")]
    public static partial void LogoffFailed(this ILogger logger, ulong sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Tree 0x{TreeId:X} connected to share {Share} on {Host} (encryption {Encryption})")]
    public static partial void TreeConnected(this ILogger logger, uint treeId, string share, string host, string encryption);

    [LoggerMessage(Level = LogLevel.Information, Message = "Tree {Share} reconnected as 0x{TreeId:X}")]
    public static partial void TreeReconnected(this ILogger logger, string share, uint treeId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Tree {Share} re-connected as 0x{TreeId:X} after STATUS_NETWORK_NAME_DELETED")]
    public static partial void TreeReconnectedAfterNameDeleted(this ILogger logger, string share, uint treeId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Closed abandoned handle {FileId}: {Status}")]
    public static partial void AbandonedHandleClosed(this ILogger logger, Smb2FileId fileId, NtStatus status);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Closing abandoned handle {FileId} failed: {Reason}")]
    public static partial void AbandonedHandleCloseFailed(this ILogger logger, Smb2FileId fileId, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Handle to {Name}, closed during the outage, was not reclaimed ({Reason}); the server drops it")]
    public static partial void ClosedHandleNotReclaimed(this ILogger logger, string name, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "The CREATE of {Name} was answered just before the connection was lost; reclaiming its handle (epoch {Epoch})")]
    public static partial void CreateAnsweredBeforeLoss(this ILogger logger, string name, int epoch);

    [LoggerMessage(Level = LogLevel.Debug, Message = "TREE_DISCONNECT of {Share} failed: {Reason}")]
    public static partial void TreeDisconnectFailed(this ILogger logger, string share, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "VALIDATE_NEGOTIATE_INFO on {Host}:{Port} confirmed dialect {Dialect}")]
    public static partial void NegotiateValidated(this ILogger logger, string host, int port, string dialect);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Host}:{Port} does not support VALIDATE_NEGOTIATE_INFO ({Status}, signed); dialect {Dialect} kept without that check")]
    public static partial void NegotiateValidationUnsupported(this ILogger logger, string host, int port, string status, string dialect);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring a malformed break notification: {Reason}")]
    public static partial void MalformedBreak(this ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{What}: the server answered {Status} ({Why}); trying again in {DelayMs} ms, backing off to at most {CapMs} ms, {Limit}")]
    public static partial void TryAgainFirst(this ILogger logger, string what, string status, string why, long delayMs, long capMs, string limit);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{What}: the server answered {Status} again (attempt {Attempt}); trying again in {DelayMs} ms")]
    public static partial void TryAgainAgain(this ILogger logger, string what, string status, int attempt, long delayMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{What}: the server still answers {Status} ({Why}), {Seconds:0.#} s and {Attempts} attempts since the first; trying again every {CapMs} ms, {Limit}")]
    public static partial void TryAgainStill(this ILogger logger, string what, string status, string why, double seconds, int attempts, long capMs, string limit);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Reclaiming the durable handle of '{Name}': the server answered {Status} (it may still be letting go of the old connection); trying again in {DelayMs} ms from the recovery's budget")]
    public static partial void ReclaimTryAgain(this ILogger logger, string name, string status, long delayMs);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Unexpected server-initiated message {Type}")]
    public static partial void UnexpectedServerMessage(this ILogger logger, string type);

    [LoggerMessage(Level = LogLevel.Error, Message = "Break callback failed")]
    public static partial void BreakCallbackFailed(this ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Break acknowledged for '{Name}': {Status}")]
    public static partial void BreakAcknowledged(this ILogger logger, string name, NtStatus status);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Break acknowledgment for '{Name}' failed: {Reason}")]
    public static partial void BreakAcknowledgmentFailed(this ILogger logger, string name, string reason);
}
