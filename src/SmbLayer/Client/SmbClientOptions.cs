using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;

namespace SmbLayer;

/// <summary>Settings for an <see cref="SmbClient"/>.</summary>
public sealed class SmbClientOptions
{
    /// <summary>Credentials used for every server unless a URL carries its own.</summary>
    public SmbCredentials? Credentials { get; set; }

    /// <summary>Lowest dialect accepted; a server that offers less is refused.</summary>
    public SmbDialect MinDialect { get; set; } = SmbDialect.Smb202;

    /// <summary>Highest dialect offered.</summary>
    public SmbDialect MaxDialect { get; set; } = SmbDialect.Smb311;

    /// <summary>Require message signing even if the server does not.</summary>
    public bool RequireSigning { get; set; }

    /// <summary>Time allowed for the TCP connect of one attempt.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Upper bound for one request (after STATUS_PENDING too); <see cref="Timeout.InfiniteTimeSpan"/> disables it.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A pooled connection with no user for this long is closed.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Requests kept in flight by sequential reads and writes of one stream.</summary>
    public int MaxRequestsInFlightPerStream { get; set; } = 4;

    /// <summary>Largest single READ or WRITE (8 MiB), further limited by the server's negotiated maxima and the credits it grants.</summary>
    public int MaxIoSize { get; set; } = 8 * 1024 * 1024;

    /// <summary>Workstation name sent in NTLM messages.</summary>
    public string WorkstationName { get; set; } = "SMBLAYER";

    /// <summary>Logger factory; null means no logging.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    internal SmbClientOptions Clone() => (SmbClientOptions)MemberwiseClone();
}
