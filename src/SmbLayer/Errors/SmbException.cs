using SmbLayer.Protocol;

namespace SmbLayer;

/// <summary>Base of every error SmbLayer raises on purpose.</summary>
public abstract class SmbException : Exception
{
    protected SmbException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>
/// The transport failed: connect refused, connection reset or closed, server silent past
/// the liveness limit. Never carries an invented NT status.
/// </summary>
public class SmbConnectionException : SmbException
{
    public SmbConnectionException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>The peer sent something that violates the protocol (bad frame, bad signature, bad lengths).</summary>
public class SmbProtocolException : SmbException
{
    public SmbProtocolException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>The server answered with an error status.</summary>
public class SmbStatusException : SmbException
{
    public SmbStatusException(NtStatus status, string message, Exception? inner = null)
        : base($"{message}: {NtStatusText.Describe(status)}", inner)
    {
        Status = status;
        What = message;
    }

    /// <summary>The message without the status: what was being done.</summary>
    internal string What { get; }

    /// <summary>The server's NTSTATUS.</summary>
    public NtStatus Status { get; }

    /// <summary>Makes the most specific exception type for <paramref name="status"/>.</summary>
    public static SmbStatusException Create(NtStatus status, string message, Exception? inner = null) => status switch
    {
        NtStatus.LogonFailure or NtStatus.WrongPassword or NtStatus.AccountDisabled or NtStatus.AccountRestriction
            or NtStatus.AccountLockedOut or NtStatus.PasswordExpired or NtStatus.PasswordMustChange
            or NtStatus.InvalidLogonHours or NtStatus.InvalidWorkstation or NtStatus.SmbGuestLogonBlocked
            or NtStatus.NoSuchLogonSession or NtStatus.NtlmBlocked or NtStatus.AccountExpired
            or NtStatus.LogonTypeNotGranted or NtStatus.PasswordRestriction or NtStatus.NoSuchUser
            or NtStatus.InvalidAccountName or NtStatus.DowngradeDetected or NtStatus.TrustedRelationshipFailure
            or NtStatus.TimeDifferenceAtDc or NtStatus.AuthenticationFirewallFailed
            or NtStatus.NologonInterdomainTrustAccount or NtStatus.NologonWorkstationTrustAccount
            or NtStatus.NologonServerTrustAccount
            => new SmbAuthenticationException(status, message, inner),
        NtStatus.ObjectNameNotFound or NtStatus.ObjectPathNotFound or NtStatus.NoSuchFile or NtStatus.BadNetworkName
            or NtStatus.NotFound
            => new SmbNotFoundException(status, message, inner),
        NtStatus.AccessDenied or NtStatus.NetworkAccessDenied or NtStatus.PrivilegeNotHeld or NtStatus.CannotDelete
            => new SmbAccessDeniedException(status, message, inner),
        _ => new SmbStatusException(status, message, inner),
    };
}

/// <summary>Authentication failed (wrong user or password, account locked, guest refused...).</summary>
public class SmbAuthenticationException : SmbStatusException
{
    public SmbAuthenticationException(NtStatus status, string message, Exception? inner = null) : base(status, message, inner) { }
}

/// <summary>
/// Kerberos could not authenticate (no or expired ticket, clock skew, unknown principal, unreachable KDC, a host given as
/// an address): the message carries the system GSS-API library's own words. <see cref="SmbStatusException.Status"/> is
/// the nearest NTSTATUS (LOGON_FAILURE when none is nearer).
/// </summary>
public sealed class SmbKerberosException : SmbAuthenticationException
{
    public SmbKerberosException(NtStatus status, string message, uint majorStatus = 0, uint minorStatus = 0) : base(status, message)
    {
        MajorStatus = majorStatus;
        MinorStatus = minorStatus;
    }

    /// <summary>The GSS-API major status (0 when the failure came before GSS-API).</summary>
    public uint MajorStatus { get; }

    /// <summary>The mechanism's (Kerberos') minor status, a krb5 error code.</summary>
    public uint MinorStatus { get; }
}

/// <summary>The file, directory or share does not exist.</summary>
public class SmbNotFoundException : SmbStatusException
{
    public SmbNotFoundException(NtStatus status, string message, Exception? inner = null) : base(status, message, inner) { }
}

/// <summary>The server refused access.</summary>
public class SmbAccessDeniedException : SmbStatusException
{
    public SmbAccessDeniedException(NtStatus status, string message, Exception? inner = null) : base(status, message, inner) { }
}

/// <summary>
/// A DFS path could not be followed: every target of its referral failed (<see cref="Attempts"/> says how), the referrals
/// looped, or no server would refer it. A connection error (CLI exit code 5); the message names the DFS path and each
/// target tried.
/// </summary>
public sealed class SmbDfsException : SmbConnectionException
{
    public SmbDfsException(string dfsPath, string message, IReadOnlyList<SmbDfsAttempt> attempts, Exception? inner = null) : base(message, inner)
    {
        DfsPath = dfsPath;
        Attempts = attempts;
    }

    /// <summary>The path as the caller gave it, in UNC form.</summary>
    public string DfsPath { get; }

    /// <summary>Each target tried, in order, with why it failed.</summary>
    public IReadOnlyList<SmbDfsAttempt> Attempts { get; }
}

/// <summary>One DFS target (<c>\\server\share[\path]</c>) tried, and the error that ruled it out.</summary>
public sealed record SmbDfsAttempt(string Target, Exception Error);

/// <summary>
/// A DCE/RPC call over a named pipe (share listing) failed on the server: a fault PDU, a refused bind, or a Windows
/// error code returned by the method. <see cref="Code"/> is the fault status or the error code (0 when there is none).
/// </summary>
public sealed class SmbRpcException : SmbException
{
    public SmbRpcException(uint code, string message, Exception? inner = null) : base(message, inner) => Code = code;

    public uint Code { get; }

    /// <summary>A fault status or Windows error code with its name where known.</summary>
    public static string Describe(uint code) => code switch
    {
        0x00000005 => "ERROR_ACCESS_DENIED (0x00000005)",
        0x0000007C => "ERROR_INVALID_LEVEL (0x0000007C)",
        0x00000057 => "ERROR_INVALID_PARAMETER (0x00000057)",
        0x000000EA => "ERROR_MORE_DATA (0x000000EA)",
        0x00000008 => "ERROR_NOT_ENOUGH_MEMORY (0x00000008)",
        0x1C010002 => "nca_s_op_rng_error (0x1C010002)",
        0x1C010003 => "nca_s_unk_if (0x1C010003)",
        0x1C01000B => "nca_s_proto_error (0x1C01000B)",
        0x000006F7 => "nca_s_fault_ndr (0x000006F7)",
        _ => $"0x{code:X8}",
    };
}

/// <summary>A call gave up because the connection stayed unusable, or the server stayed silent, past a limit.</summary>
public class SmbTimeoutException : SmbException
{
    public SmbTimeoutException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>An open file could not be reclaimed after a reconnect; its handle is gone.</summary>
public class SmbHandleLostException : SmbException
{
    public SmbHandleLostException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A request may or may not have taken effect on the server and cannot be replayed safely.</summary>
public class SmbOutcomeUnknownException : SmbException
{
    public SmbOutcomeUnknownException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A security requirement could not be met (dialect below minimum, signing or encryption unavailable).</summary>
public class SmbSecurityException : SmbException
{
    public SmbSecurityException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>Readable names for NT status codes (every value [MS-ERREF] §2.3.1 names, not only <see cref="NtStatus"/>'s).</summary>
public static class NtStatusText
{
    /// <summary>
    /// <c>STATUS_PATH_NOT_COVERED (0xC0000257)</c> for a named value, <c>0xC0001234 (unknown status)</c>
    /// for any other.
    /// </summary>
    public static string Describe(NtStatus status) =>
        Name(status) is { } name ? $"{name} (0x{(uint)status:X8})" : $"0x{(uint)status:X8} (unknown status)";

    /// <summary>The official name of <paramref name="status"/> (<c>STATUS_LOGON_FAILURE</c>...), or null when it has none.</summary>
    public static string? Name(NtStatus status) => NtStatusNames.Find((uint)status);
}

/// <summary>
/// The connection dropped (or was not usable) while this request was outstanding. Internal to
/// the library: the session layer decides, from <see cref="WasSent"/> and the kind of request,
/// whether to wait for the reconnect and replay it, or to report an outcome-unknown error.
/// Callers of the public API see it only when reconnecting is off.
/// </summary>
public sealed class SmbConnectionLostException : SmbConnectionException
{
    public SmbConnectionLostException(string message, bool wasSent, Exception? inner = null) : base(message, inner)
    {
        WasSent = wasSent;
    }

    /// <summary>True when the request may have reached the server (so it may have taken effect).</summary>
    public bool WasSent { get; }
}
