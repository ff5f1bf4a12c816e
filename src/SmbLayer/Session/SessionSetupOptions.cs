using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SmbLayer.Session;

/// <summary>
/// What <see cref="SmbSession.SetupAsync"/> sets a session up with: who, from which workstation, and the
/// protections the caller insists on. The session keeps them: its recovery after a reconnect authenticates
/// again with the same.
/// </summary>
internal sealed record SessionSetupOptions
{
    public required SmbCredentials Credentials { get; init; }

    /// <summary>Workstation name sent in the NTLM messages.</summary>
    public required string Workstation { get; init; }

    /// <summary>Sign every message even if the server does not require it; a session without a key is then refused.</summary>
    public bool RequireSigning { get; init; }

    /// <summary>Accept a logon the server made as guest although credentials were given (refused otherwise, DESIGN §7).</summary>
    public bool AllowGuest { get; init; }

    /// <summary>Encrypt every request; a connection or session that cannot is refused before any credential goes out.</summary>
    public bool RequireEncryption { get; init; }

    /// <summary>Whether the session authenticates with Kerberos (the system's GSS-API), NTLM, or Kerberos first.</summary>
    public KerberosPolicy Kerberos { get; init; }

    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;
}
