namespace SmbLayer.IntegrationTests.Dfs;

/// <summary>
/// A DFS namespace on several servers, each on its own loopback address on port 445 (referrals carry no port), the
/// addresses added to lo for the run and removed afterwards: the DFS roots "dfsroot" and "dfsroot2" on 127.0.0.21 (profile
/// dfs, see samba-server.sh for its links) and the target server on 127.0.0.22. Nothing may listen on 127.0.0.23 or
/// 127.0.0.25, the targets that are down.
/// </summary>
public sealed class DfsNamespaceFixture : IAsyncLifetime
{
    public const string RootAddress = "127.0.0.21";
    public const string TargetAddress = "127.0.0.22";

    private SambaServer? _root;
    private SambaServer? _target;

    public SambaServer Root => _root ?? throw new InvalidOperationException($"No DFS root: {SambaAvailability.SkipReason ?? "not started"}.");

    public SambaServer Target => _target ?? throw new InvalidOperationException($"No DFS target: {SambaAvailability.SkipReason ?? "not started"}.");

    /// <summary>smb://127.0.0.21/dfsroot/PATH.</summary>
    public static string Url(string path) => $"smb://{RootAddress}/dfsroot/{path}";

    public SmbClient NewClient(SmbClientOptions? options = null)
    {
        options ??= new SmbClientOptions();
        options.Credentials = new SmbCredentials(Root.UserName, Root.Password);
        return new SmbClient(options);
    }

    public async Task InitializeAsync()
    {
        if (SambaAvailability.SkipReason is null)
        {
            _root = await SambaServer.StartAsync(SambaProfile.Dfs, RootAddress);
            _target = await SambaServer.StartAsync(SambaProfile.Default, TargetAddress);
        }
    }

    public async Task DisposeAsync()
    {
        if (_target is not null)
        {
            await _target.DisposeAsync();
        }
        if (_root is not null)
        {
            await _root.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class DfsNamespaceCollection : ICollectionFixture<DfsNamespaceFixture>
{
    public const string Name = "dfs-namespace";
}
