using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer;

/// <summary>Settings for an <see cref="SmbClient"/>.</summary>
public sealed class SmbClientOptions
{
    /// <summary>
    /// The options a connection takes over (dialects, timeouts, liveness, reconnect backoff) start from the
    /// transport's own defaults: <see cref="ConnectionSettings"/> declares each of them once.
    /// </summary>
    private static readonly ConnectionSettings TransportDefaults = new();

    /// <summary>Credentials used for every server unless a URL carries its own.</summary>
    public SmbCredentials? Credentials { get; set; }

    /// <summary>Lowest dialect accepted; a server that offers less is refused.</summary>
    public SmbDialect MinDialect { get; set; } = TransportDefaults.MinDialect;

    /// <summary>Highest dialect offered.</summary>
    public SmbDialect MaxDialect { get; set; } = TransportDefaults.MaxDialect;

    /// <summary>Require message signing even if the server does not.</summary>
    public bool RequireSigning { get; set; }

    /// <summary>
    /// Encrypt every request (SMB 3.x). A server that cannot (dialect below 3.0, or no common cipher) is
    /// refused with <see cref="SmbSecurityException"/> before any credential is sent. Without this option,
    /// sessions and shares still encrypt when the server requires it.
    /// </summary>
    public bool RequireEncryption { get; set; }

    /// <summary>
    /// Ciphers offered in SMB 3.1.1, preferred first; null (the default) offers AES-128-GCM, AES-128-CCM,
    /// AES-256-GCM, AES-256-CCM in that order. 3.0 and 3.0.2 always use AES-128-CCM.
    /// </summary>
    public IReadOnlyList<SmbCipher>? Ciphers { get; set; }

    /// <summary>
    /// Accept a session the server logs on as guest even though credentials were given. Off by default:
    /// a server that maps a bad user or password to guest is refused with <see cref="SmbAuthenticationException"/>.
    /// (An anonymous session is asked for with <see cref="SmbCredentials.Anonymous"/>.)
    /// </summary>
    public bool AllowGuest { get; set; }

    /// <summary>
    /// Kerberos (the system's GSS-API and krb5.conf): <see cref="KerberosPolicy.Off"/> (the default) uses NTLM;
    /// <see cref="KerberosPolicy.Required"/> uses Kerberos only, with the ticket cache when <see cref="Credentials"/> is
    /// null or has no password, else a ticket got with the password in memory; <see cref="KerberosPolicy.Desired"/> falls
    /// back to NTLM when Kerberos fails before anything is sent. The server must be named by its host name.
    /// </summary>
    public KerberosPolicy Kerberos { get; set; }

    /// <summary>
    /// Connect to this address instead of resolving the URL's host (smbclient's <c>-I</c>): for a server whose name does
    /// not resolve here (no DNS over a VPN, say). The name still names the server: Kerberos asks for a ticket for
    /// cifs/&lt;name&gt;, and tree paths carry it. Applies to every server this client connects to.
    /// </summary>
    public System.Net.IPAddress? ServerAddress { get; set; }

    /// <summary>
    /// A domain controller (host name) to ask about domain-based DFS namespaces, <c>\\domain\namespace</c> (MS-DFSC DC and
    /// root referrals). Without one, a location's host is always taken for a server. It names the DC by the name its
    /// Kerberos ticket has; domain controllers are not looked up in DNS.
    /// </summary>
    public string? DomainController { get; set; }

    /// <summary>Time allowed for the TCP connect of one attempt.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TransportDefaults.ConnectTimeout;

    /// <summary>Upper bound for one request (after STATUS_PENDING too); <see cref="Timeout.InfiniteTimeSpan"/> disables it.</summary>
    public TimeSpan RequestTimeout { get; set; } = TransportDefaults.RequestTimeout;

    /// <summary>A pooled connection with no user for this long is closed.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Requests kept in flight by sequential reads and writes of one stream (default 8: with 1 MiB requests,
    /// 8 MiB on the wire, enough for ~800 MB/s at 10 ms round trip; raise it for faster long-distance links).
    /// </summary>
    public int MaxRequestsInFlightPerStream { get; set; } = 8;

    /// <summary>
    /// Largest single READ or WRITE (default 1 MiB, at most 8 MiB), further limited by the server's negotiated
    /// maxima and the credits it grants. 1 MiB × 8 in flight moved 1 GiB to and from Samba on loopback
    /// 10–15 % faster than 8 MiB × 4 (BENCHMARKS.md), with a quarter of the buffer memory.
    /// </summary>
    public int MaxIoSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// Largest single WRITE of an upload from a local file whose data goes from the file to the socket without
    /// passing through this process (sendfile, Linux; see <see cref="MaxIoSize"/> for everything else). Such a
    /// WRITE holds no buffer here, so it can be larger at no memory cost: default 4 MiB (at most 8 MiB), which
    /// uploaded 1 GiB to Samba on loopback ~14 % faster than 1 MiB, with less CPU (BENCHMARKS.md). Still limited
    /// by the server's MaxWriteSize and the credits it grants.
    /// </summary>
    public int MaxWriteSizeFromFile { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// The AppContext switch (<c>AppContext.SetSwitch(DisableZeroCopySwitch, true)</c>) that turns the kernel-side
    /// file transfers off for the whole process: downloads into a local file then no longer splice from the socket,
    /// uploads no longer sendfile, and every byte passes through this process's memory as on other systems.
    /// </summary>
    public const string DisableZeroCopySwitch = SplicePipe.DisableSwitch;

    /// <summary>
    /// What calls do while their connection is down: <see cref="SmbFailureMode.Soft"/> (default) fails
    /// them with <see cref="SmbTimeoutException"/> once the connection has been unusable for
    /// <see cref="SoftTimeout"/>; <see cref="SmbFailureMode.Hard"/> waits until the server is back.
    /// Reconnecting goes on in the background either way. Override per call with <see cref="SmbClient.WithFailureMode"/>.
    /// </summary>
    public SmbFailureMode FailureMode { get; set; } = SmbFailureMode.Soft;

    /// <summary>For soft mode: how long a connection may be unusable before calls fail.</summary>
    public TimeSpan SoftTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long one call may take in all, whatever it waits for: replies (STATUS_PENDING included), reconnects,
    /// "try again" answers, connecting and authenticating. A call is one <see cref="SmbClient"/> method that
    /// returns once done (GetInfo, Delete, Rename, the open of OpenRead/OpenWrite …), or one request made through
    /// a stream or listing it returned (a read, a write, a flush, a page of entries), so a whole-file copy is
    /// many calls: bound that with a <see cref="CancellationToken"/>. A call past its limit fails with
    /// <see cref="SmbTimeoutException"/>; one that was sending a write reports it as not written, as any timeout
    /// does. Null (default): no limit beyond <see cref="RequestTimeout"/> per request and the failure mode.
    /// Override per call with <see cref="SmbClient.WithOperationTimeout"/>.
    /// </summary>
    public TimeSpan? OperationTimeout
    {
        get => _operationTimeout;
        set => _operationTimeout = value is { } t && t <= TimeSpan.Zero
            ? throw new ArgumentOutOfRangeException(nameof(value), value, "An operation timeout must be positive.")
            : value;
    }

    private TimeSpan? _operationTimeout;

    /// <summary>Liveness: while requests are outstanding and the server has been silent this long, an ECHO probes it.</summary>
    public TimeSpan ProbeDelay { get; set; } = TransportDefaults.ProbeDelay;

    /// <summary>Liveness: an ECHO with no answer (and nothing else received) for this long means the server is gone.</summary>
    public TimeSpan EchoTimeout { get; set; } = TransportDefaults.EchoTimeout;

    /// <summary>Liveness: an idle connection is probed after this much silence.</summary>
    public TimeSpan IdleProbeInterval { get; set; } = TransportDefaults.IdleProbeInterval;

    /// <summary>Reconnect backoff cap (first attempt at once, then doubling steps with ±25 % jitter up to this): 750 ms keeps the worst wait under 1 s.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TransportDefaults.ReconnectMaxDelay;

    /// <summary>
    /// After a reconnect, the limit for each step of the recovery: one session's SESSION_SETUP, one tree's TREE_CONNECT,
    /// one handle's reclaim (not the recovery as a whole, which grows with the handles). The connection is usable once
    /// its sessions and trees are back; handles are reclaimed in parallel after that, and only a handle's own users
    /// wait for it.
    /// </summary>
    public TimeSpan RecoveryStepTimeout { get; set; } = TransportDefaults.RecoveryStepTimeout;

    /// <summary>Ask servers for durable handles on files opened as streams, so they survive reconnects.</summary>
    public bool DurableHandles { get; set; } = true;

    /// <summary>
    /// How long (3.x: the DH2Q Timeout, MS-SMB2 §2.2.13.2.11) the server keeps a durable handle whose connection is
    /// gone: the longest outage a handle survives, and how long one the client could not reclaim or close (a CREATE
    /// whose answer a loss cut off, on Samba) holds its file. Null (default): the server's choice (Samba and Windows:
    /// 60 s); servers cap it (Samba at 300 s). Whole milliseconds, positive.
    /// </summary>
    public TimeSpan? DurableHandleTimeout
    {
        get => _durableHandleTimeout;
        set => _durableHandleTimeout = value is { } t && (t < TimeSpan.FromMilliseconds(1) || t.TotalMilliseconds > uint.MaxValue)
            ? throw new ArgumentOutOfRangeException(nameof(value), value, "A durable handle timeout must be at least 1 ms and at most 2^32 - 1 ms.")
            : value;
    }

    private TimeSpan? _durableHandleTimeout;

    /// <summary>Workstation name sent in NTLM messages.</summary>
    public string WorkstationName { get; set; } = "SMBLAYER";

    /// <summary>Logger factory; null means no logging.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    internal SmbClientOptions Clone() => (SmbClientOptions)MemberwiseClone();
}
