using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SmbLayer.IntegrationTests.Client;

/// <summary>
/// Share listing (srvsvc NetrShareEnum over IPC$, issue 18) against Samba: the same shares as <c>smbclient -L</c>, from
/// the library and from <c>smb ls smb://host/</c> in text and JSON. The server has 300 more shares than usual, so the
/// answer comes in many DCE/RPC fragments.
/// </summary>
public sealed class ShareListingTests(ManySharesSambaFixture fixture) : IClassFixture<ManySharesSambaFixture>
{
    private SambaServer Server => fixture.Server;

    private string ServerUrl => $"smb://{Server.Host}:{Server.Port.ToString(CultureInfo.InvariantCulture)}/";

    /// <summary><c>smbclient -L -g</c>: "Type|Name|Comment" lines.</summary>
    private async Task<List<(string Type, string Name, string Comment)>> SmbclientListAsync()
    {
        var r = await ProcessRunner.RunAsync("smbclient",
            ["-L", $"//{Server.Host}", "-p", Server.Port.ToString(CultureInfo.InvariantCulture), "-U", $"{Server.UserName}%{Server.Password}",
                "--configfile=/dev/null", "-g"], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, r.StdOut + r.StdErr);
        return r.StdOut.Split('\n')
            .Select(line => line.Split('|'))
            .Where(f => f.Length == 3 && f[0] is "Disk" or "IPC" or "Printer" or "Device")
            .Select(f => (f[0], f[1], f[2]))
            .ToList();
    }

    [SambaFact]
    public async Task ListSharesAsync_SameNamesTypesAndCommentsAsSmbclient()
    {
        var expected = await SmbclientListAsync();
        Assert.True(expected.Count > 300, $"smbclient listed {expected.Count}");
        await using var client = new SmbClient(new SmbClientOptions { Credentials = new SmbCredentials(Server.UserName, Server.Password) });
        var shares = await client.ListSharesAsync(ServerUrl);
        Assert.Equal(expected, shares.Select(s => (s.TypeName, s.Name, s.Comment)));
        var ipc = Assert.Single(shares, s => s.Name == "IPC$");
        Assert.Equal(SmbShareType.Ipc, ipc.Type);
        Assert.True(ipc.IsSpecial);
        Assert.Equal("share number 123 of the many-shares profile", Assert.Single(shares, s => s.Name == "s123").Comment);
    }

    [SambaFact]
    public async Task Cli_LsServer_TextAndJson_NameTheSameSharesAsSmbclient()
    {
        var expected = (await SmbclientListAsync()).Select(s => s.Name).ToList();

        var text = await SmbProgram.RunAsync(Server.Password, Server.UserName, ["ls", ServerUrl]);
        Assert.True(text.ExitCode == 0, text.Stderr);
        var lines = Encoding.UTF8.GetString(text.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("\tSharename       Type      Comment", lines[0]);
        Assert.Equal(expected, lines.Skip(2).Select(l => l.TrimStart('\t').Split(' ')[0]));
        Assert.Contains(lines, l => l.StartsWith("\tIPC$            IPC       ", StringComparison.Ordinal));

        var json = await SmbProgram.RunAsync(Server.Password, Server.UserName, ["ls", "--json", ServerUrl]);
        Assert.True(json.ExitCode == 0, json.Stderr);
        using var doc = JsonDocument.Parse(json.Stdout);
        Assert.Equal(expected, doc.RootElement.GetProperty("shares").EnumerateArray().Select(s => s.GetProperty("name").GetString()));
    }

    [SambaFact]
    public async Task WrongPassword_IsAnAuthenticationError()
    {
        await using var client = new SmbClient(new SmbClientOptions { Credentials = new SmbCredentials(Server.UserName, "not-the-password") });
        await Assert.ThrowsAsync<SmbAuthenticationException>(() => client.ListSharesAsync(ServerUrl));
    }
}
