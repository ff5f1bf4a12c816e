using System.Text;

namespace SmbLayer.IntegrationTests.Dfs;

/// <summary>
/// The DFS fixture (issue 18): a DFS root server on 127.0.0.21 and a target server on 127.0.0.22, each on its own
/// loopback address on port 445 (referrals carry no port), added to lo for the test and removed afterwards. smbclient,
/// a client that follows DFS, reads through the link; ours reads the same file at the referral's target.
/// </summary>
public sealed class DfsFixtureTests : IAsyncLifetime
{
    private SambaServer? _root;
    private SambaServer? _target;

    public async Task InitializeAsync()
    {
        if (SambaAvailability.SkipReason is null)
        {
            _root = await SambaServer.StartAsync(SambaProfile.Dfs, "127.0.0.21");
            _target = await SambaServer.StartAsync(SambaProfile.Default, "127.0.0.22");
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

    [SambaFact]
    public async Task ThroughTheLink_SmbclientReadsTheTargetsFile_AndSoDoWeAtTheTarget()
    {
        _target!.WriteShareFile("through-link.txt", "behind the link");
        var smbclient = await ProcessRunner.RunAsync("smbclient",
            [@"//127.0.0.21/dfsroot", "-p", "445", "-U", $"{_root!.UserName}%{_root.Password}", "--configfile=/dev/null",
                "-c", @"get link1\through-link.txt -"], TimeSpan.FromSeconds(60));
        Assert.True(smbclient.ExitCode == 0, smbclient.StdOut + smbclient.StdErr);
        Assert.Contains("behind the link", smbclient.StdOut);

        await using var client = new SmbClient(new SmbClientOptions { Credentials = new SmbCredentials(_target.UserName, _target.Password) });
        var data = new MemoryStream();
        await using (var stream = await client.OpenReadAsync("smb://127.0.0.22/share/through-link.txt"))
        {
            await stream.CopyToAsync(data);
        }
        Assert.Equal("behind the link", Encoding.UTF8.GetString(data.ToArray()));
    }
}
