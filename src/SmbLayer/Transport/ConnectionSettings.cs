using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

/// <summary>What a connection needs to know from its owner; immutable once the connection exists.</summary>
internal sealed record ConnectionSettings
{
    public SmbDialect MinDialect { get; init; } = SmbDialect.Smb202;
    public SmbDialect MaxDialect { get; init; } = SmbDialect.Smb311;
    public bool RequireSigning { get; init; }
    /// <summary>Ciphers offered in 3.1.1, preferred first; null means the default order (GCM first). Tests pin one here.</summary>
    public IReadOnlyList<CipherId>? Ciphers { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Where to connect instead of resolving the host name (smbclient's -I); the name still names the server.</summary>
    public System.Net.IPAddress? ServerAddress { get; init; }
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a cancelled request waits for the server's final word after CANCEL went out.</summary>
    public TimeSpan CancelGrace { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Credits the client tries to hold: enough for 64 large-MTU (1 MiB, 16-credit) requests and more in flight.</summary>
    public int TargetCredits { get; init; } = 2048;

    /// <summary>Largest frame accepted from the server (bounded allocation, DESIGN §8).</summary>
    public int MaxFrameLength { get; init; } = 16 * 1024 * 1024 - 1;

    /// <summary>Identifies this client to servers; constant across reconnects (durable handles depend on it).</summary>
    public Guid ClientGuid { get; init; } = Guid.NewGuid();

    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>Reconnect in the background after the connection is lost (DESIGN §6). Off for scripted-peer tests that want a terminal failure.</summary>
    public bool Reconnect { get; init; }

    /// <summary>While a request is outstanding and the server has been silent this long, an ECHO goes out (DESIGN §5).</summary>
    public TimeSpan ProbeDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>An ECHO unanswered (and nothing else received) for this long means the connection is dead.</summary>
    public TimeSpan EchoTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>An idle connection (nothing outstanding) is probed after this much silence.</summary>
    public TimeSpan IdleProbeInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Reconnect backoff: first attempt at once, then doubling from <see cref="ReconnectInitialDelay"/> up to this cap, with jitter.</summary>
    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromMilliseconds(750);

    public TimeSpan ReconnectInitialDelay { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Limit for one reconnect attempt's TCP connect and NEGOTIATE (the recovery after it is bounded per step).</summary>
    public TimeSpan ReconnectAttemptTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Limit for each step of a recovery: a session's setup, a tree's connect, a handle's reclaim.</summary>
    public TimeSpan RecoveryStepTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>What durable handles on this connection ask the server to keep them for (DH2Q Timeout); null: the server's default.</summary>
    public TimeSpan? DurableHandleTimeout { get; init; }

    /// <summary>STATUS_PENDING extends a request's expiry, but never past this multiple of its timeout from when it was sent.</summary>
    public int MaxPendingExtensions { get; init; } = 4;
}
