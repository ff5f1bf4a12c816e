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
}
