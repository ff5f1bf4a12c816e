using SmbLayer.Protocol;
using SmbLayer.Security;

namespace SmbLayer;

/// <summary>What protects the traffic to one share, for diagnostics and tests.</summary>
internal sealed record SmbSecurityInfo(
    SmbDialect Dialect, SigningAlgorithm? Signing, CipherId Cipher, bool SessionEncrypts, bool TreeEncrypts, bool NegotiateValidated, bool IsGuest);

public sealed partial class SmbClient
{
    /// <summary>Connects to <paramref name="location"/>'s share and reports the negotiated protections.</summary>
    internal async Task<SmbSecurityInfo> GetSecurityInfoAsync(string location, CancellationToken cancellationToken = default)
    {
        var path = SmbPath.Parse(location);
        RequireShare(path);
        using var lease = await Pool.AcquireTreeAsync(path, CallOptions, cancellationToken).ConfigureAwait(false);
        var tree = lease.Tree;
        var session = tree.Session;
        return new SmbSecurityInfo(tree.Connection.Negotiated!.Dialect, session.SigningAlgorithm, session.Cipher, session.EncryptData,
            tree.EncryptData, tree.Connection.NegotiateValidated, session.IsGuest);
    }
}
