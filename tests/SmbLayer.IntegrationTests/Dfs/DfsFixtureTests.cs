using System.Text;

namespace SmbLayer.IntegrationTests.Dfs;

/// <summary>
/// The DFS fixture itself (issue 18): smbclient, a client that follows DFS, reads through the root's link; ours reads the
/// same file at the referral's target without DFS.
/// </summary>
[Collection(DfsNamespaceCollection.Name)]
public sealed class DfsFixtureTests(DfsNamespaceFixture dfs)
{
    [SambaFact]
    public async Task ThroughTheLink_SmbclientReadsTheTargetsFile_AndSoDoWeAtTheTarget()
    {
        dfs.Target.WriteShareFile("through-link.txt", "behind the link");
        var smbclient = await ProcessRunner.RunAsync("smbclient",
            [@"//127.0.0.21/dfsroot", "-p", "445", "-U", $"{dfs.Root.UserName}%{dfs.Root.Password}", "--configfile=/dev/null",
                "-c", @"get link1\through-link.txt -"], TimeSpan.FromSeconds(60));
        Assert.True(smbclient.ExitCode == 0, smbclient.StdOut + smbclient.StdErr);
        Assert.Contains("behind the link", smbclient.StdOut);

        await using var client = dfs.NewClient();
        var data = new MemoryStream();
        await using (var stream = await client.OpenReadAsync("smb://127.0.0.22/share/through-link.txt"))
        {
            await stream.CopyToAsync(data);
        }
        Assert.Equal("behind the link", Encoding.UTF8.GetString(data.ToArray()));
    }

    [SambaFact]
    public async Task TheTargetsThatAreDown_HaveNothingListening()
    {
        foreach (var address in new[] { "127.0.0.23", "127.0.0.25" })
        {
            using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            var ex = await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(
                () => socket.ConnectAsync(System.Net.IPAddress.Parse(address), 445).WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(System.Net.Sockets.SocketError.ConnectionRefused, ex.SocketErrorCode);
        }
    }
}
