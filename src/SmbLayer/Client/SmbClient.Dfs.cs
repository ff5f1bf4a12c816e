using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SmbLayer.Client;
using SmbLayer.Dfs;
using SmbLayer.Protocol.Dfs;

namespace SmbLayer;

// DFS: every call of the file API runs on the share that really holds its path (DfsResolver).
public sealed partial class SmbClient
{
    private DfsResolver? _dfs;

    /// <summary>The referral cache and the rules for following it, shared by this client and its views.</summary>
    private DfsResolver Dfs
    {
        get
        {
            if (!ReferenceEquals(_owner, this))
            {
                return _owner.Dfs;
            }
            lock (_poolLock)
            {
                return _dfs ??= new DfsResolver(new DfsReferralCache(),
                    (Options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<DfsResolver>());
            }
        }
    }

    /// <summary>Referrals cached now (tests, diagnostics).</summary>
    internal int DfsCacheCount => _owner._dfs?.Cache.Count ?? 0;

    /// <summary>A connection to <paramref name="host"/> was lost: DFS referrals that led there are asked for again before their next use.</summary>
    internal void ServerLost(string host) => _owner._dfs?.Cache.ServerLost(host);

    /// <summary>
    /// Runs <paramref name="action"/> with a lease on the share that holds <paramref name="path"/> and the path rewritten
    /// for that share (the same, unless DFS led elsewhere). The action owns the lease: it disposes it or hands it on.
    /// </summary>
    private Task<T> OnShareAsync<T>(SmbPath path, Func<TreeLease, SmbPath, Task<T>> action, CancellationToken cancellationToken)
    {
        var call = CallOptions.Begin();
        return Dfs.RunAsync<TreeLease, T>(path, call,
            (target, budget, direct, ct) => Pool.AcquireTreeAsync(target, call, ct, budget, direct),
            AskReferralAsync, action, cancellationToken, Options.DomainController);
    }

    /// <summary>FSCTL_DFS_GET_REFERRALS on <paramref name="server"/>'s IPC$, under this client's options.</summary>
    private async Task<DfsReferralResponse> AskReferralAsync(SmbPath server, string dfsPath, bool direct, CancellationToken cancellationToken)
    {
        var call = CallOptions.Begin();
        using var lease = await Pool.AcquireTreeAsync(server.At(server.Host, server.Port, "IPC$", ""), call, cancellationToken,
            direct: direct).ConfigureAwait(false);
        return await lease.Tree.GetDfsReferralAsync(dfsPath, lease.Call, cancellationToken).ConfigureAwait(false);
    }
}
