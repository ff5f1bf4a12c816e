using System.Net.Sockets;
using System.Text;

namespace SmbLayer.IntegrationTests;

/// <summary>Checks, per profile, that the shared server works and has the advertised limits.</summary>
public abstract class SambaProfileTests<TFixture>(TFixture fixture)
    where TFixture : SambaFixture
{
    private static readonly string[] Dialects = ["SMB2_02", "SMB2_10", "SMB3_00", "SMB3_02", "SMB3_11"];

    protected SambaServer Server => fixture.Server;

    protected static string[] Exactly(string dialect) =>
        [$"--option=client min protocol={dialect}", $"--option=client max protocol={dialect}"];

    [SambaFact]
    public async Task SmbClient_puts_and_gets_a_file()
    {
        var name = $"put-get-{Guid.NewGuid():N}.txt";
        var content = $"hello from {Server.Profile}";
        var upload = Path.Combine(Server.Directory, name + ".up");
        var download = Path.Combine(Server.Directory, name + ".down");
        await File.WriteAllTextAsync(upload, content);

        var (code, stdout, stderr) = await Server.SmbClientAsync($"put {upload} {name}; ls; get {name} {download}");

        Assert.True(code == 0, $"smbclient failed ({code}): {stdout}{stderr}");
        Assert.Contains(name, stdout);
        Assert.Equal(content, await File.ReadAllTextAsync(Server.LocalPath(name)));
        Assert.Equal(content, await File.ReadAllTextAsync(download));
    }

    [SambaFact]
    public async Task File_seeded_locally_can_be_read_overwritten_and_deleted_through_the_share()
    {
        var name = $"seed-{Guid.NewGuid():N}/nested/file.txt";
        Server.WriteShareFile(name, "seeded");
        var download = Path.Combine(Server.Directory, Guid.NewGuid().ToString("N"));
        var upload = Path.Combine(Server.Directory, Guid.NewGuid().ToString("N"));
        await File.WriteAllTextAsync(upload, "overwritten");
        var smbName = name.Replace('/', '\\');

        var get = await Server.SmbClientAsync($"get {smbName} {download}");
        Assert.True(get.exitCode == 0, get.stdout + get.stderr);
        Assert.Equal("seeded", await File.ReadAllTextAsync(download));

        var put = await Server.SmbClientAsync($"put {upload} {smbName}");
        Assert.True(put.exitCode == 0, put.stdout + put.stderr);
        Assert.Equal("overwritten", await File.ReadAllTextAsync(Server.LocalPath(name)));

        var del = await Server.SmbClientAsync($"del {smbName}");
        Assert.True(del.exitCode == 0, del.stdout + del.stderr);
        Assert.False(File.Exists(Server.LocalPath(name)));
    }

    [SambaFact]
    public async Task Server_accepts_dialects_up_to_its_maximum_and_rejects_higher_ones()
    {
        var max = Array.IndexOf(Dialects, Server.Profile.MaxProtocol());
        var min = Server.Profile == SambaProfile.EncryptionRequired ? 2 : 0; // SMB2 has no encryption
        for (var i = 0; i < Dialects.Length; i++)
        {
            var (code, stdout, stderr) = await Server.SmbClientAsync("ls", Exactly(Dialects[i]));
            var expected = i >= min && i <= max;
            Assert.True(
                expected == (code == 0),
                $"{Server.Profile} with client dialect {Dialects[i]}: expected {(expected ? "success" : "failure")}, " +
                $"smbclient exit code {code}: {stdout}{stderr}");
        }
    }

    [SambaFact]
    public async Task SmbStatus_counts_a_held_open_file_and_sees_it_released()
    {
        var name = $"held-{Guid.NewGuid():N}.txt";
        Server.WriteShareFile(name, "x");
        var before = await Server.CountOpenFilesAsync();

        await using (var client = Server.StartInteractiveSmbClient())
        {
            await client.SendAsync($"open {name}");
            await client.WaitForOutputAsync("fnum", TimeSpan.FromSeconds(20));

            var status = await Server.SmbStatusAsync();
            Assert.Equal(before + 1, SambaServer.CountOpenFiles(status));
            Assert.Contains(name, status);
            Assert.Contains(Server.Profile.MaxProtocol(), status); // negotiated dialect of the session
            await AssertSessionSecurityAsync(status);
        }

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (await Server.CountOpenFilesAsync() != before && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        Assert.Equal(before, await Server.CountOpenFilesAsync());
    }

    /// <summary>Profile-specific check of the smbstatus output of a live session.</summary>
    protected virtual Task AssertSessionSecurityAsync(string smbStatus) => Task.CompletedTask;

    /// <summary>The session row of smbstatus (the one naming our user).</summary>
    protected string SessionRow(string smbStatus) =>
        smbStatus.Split('\n').First(l => l.Contains(Server.UserName, StringComparison.Ordinal)
            && l.Contains("127.0.0.1 (", StringComparison.Ordinal));
}

[Collection(SambaCollections.Default)]
public sealed class DefaultSambaProfileTests(DefaultSambaFixture fixture)
    : SambaProfileTests<DefaultSambaFixture>(fixture)
{
    [SambaFact]
    public void Url_and_paths_point_at_the_share()
    {
        Assert.Equal("127.0.0.1", Server.Host);
        Assert.Equal("share", Server.Share);
        Assert.Equal($"smb://127.0.0.1:{Server.Port}/share/", Server.Url());
        Assert.Equal($"smb://127.0.0.1:{Server.Port}/share/dir/a.txt", Server.Url("dir/a.txt"));
        Assert.Equal(Path.Combine(Server.Directory, "share"), Server.ShareDirectory);
        Assert.True(Directory.Exists(Server.ShareDirectory));
        Assert.InRange(Server.Port, 1, 65535);
    }
}

[Collection(SambaCollections.SigningMandatory)]
public sealed class SigningMandatorySambaProfileTests(SigningMandatorySambaFixture fixture)
    : SambaProfileTests<SigningMandatorySambaFixture>(fixture)
{
    protected override Task AssertSessionSecurityAsync(string smbStatus)
    {
        // Mandatory signing: the whole session is signed, not just "partial" (session setup only).
        var row = SessionRow(smbStatus);
        Assert.Contains("AES-128-", row);
        Assert.DoesNotContain("partial", row);
        return Task.CompletedTask;
    }
}

[Collection(SambaCollections.MaxSmb2_10)]
public sealed class MaxSmb2_10SambaProfileTests(MaxSmb2_10SambaFixture fixture)
    : SambaProfileTests<MaxSmb2_10SambaFixture>(fixture)
{
    [SambaFact]
    public async Task Smb3_only_client_is_rejected()
    {
        var (code, stdout, stderr) = await Server.SmbClientAsync(
            "ls", ["-m", "SMB3", "--option=client min protocol=SMB3"]);
        Assert.NotEqual(0, code);
        Assert.Contains("NT_STATUS_NOT_SUPPORTED", stdout + stderr);
    }
}

[Collection(SambaCollections.MaxSmb3_00)]
public sealed class MaxSmb3_00SambaProfileTests(MaxSmb3_00SambaFixture fixture)
    : SambaProfileTests<MaxSmb3_00SambaFixture>(fixture);

[Collection(SambaCollections.MaxSmb3_02)]
public sealed class MaxSmb3_02SambaProfileTests(MaxSmb3_02SambaFixture fixture)
    : SambaProfileTests<MaxSmb3_02SambaFixture>(fixture);

[Collection(SambaCollections.EncryptionRequired)]
public sealed class EncryptionRequiredSambaProfileTests(EncryptionRequiredSambaFixture fixture)
    : SambaProfileTests<EncryptionRequiredSambaFixture>(fixture)
{
    protected override Task AssertSessionSecurityAsync(string smbStatus)
    {
        Assert.Contains("AES-128-GCM", SessionRow(smbStatus)); // session is encrypted
        return Task.CompletedTask;
    }
}

/// <summary>Start/stop behaviour of <see cref="SambaServer"/> itself (servers of its own).</summary>
public sealed class SambaServerLifecycleTests
{
    [SambaFact]
    public async Task DisposeAsync_stops_every_process_of_the_instance_and_deletes_its_directory()
    {
        var server = await SambaServer.StartAsync(SambaProfile.Default);
        var conf = server.ConfigFile;
        var port = server.Port;
        try
        {
            server.WriteShareFile("open.txt", "x");
            await using var client = server.StartInteractiveSmbClient();
            await client.SendAsync("open open.txt");
            await client.WaitForOutputAsync("fnum", TimeSpan.FromSeconds(20));

            // Share enumeration spawns samba-dcerpcd, which leaves smbd's process group.
            var list = await ProcessRunner.RunAsync(
                SambaServer.FindTool("smbclient"),
                ["-L", $"//127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                 "-U", $"{server.UserName}%{server.Password}", "--configfile=/dev/null"],
                TimeSpan.FromSeconds(60));
            Assert.Contains("share", list.StdOut);

            var before = server.GetInstanceProcessIds();
            Assert.Contains(server.ProcessId, before);
            Assert.True(before.Count >= 3, $"expected main smbd, a connection smbd and helpers; got {before.Count}");

            await server.DisposeAsync(); // while the client is still connected
        }
        finally
        {
            await server.DisposeAsync();
        }

        Assert.Empty(server.GetInstanceProcessIds());
        Assert.False(Directory.Exists(server.Directory));
        Assert.False(File.Exists(conf));
        using var tcp = new TcpClient();
        await Assert.ThrowsAnyAsync<SocketException>(() => tcp.ConnectAsync("127.0.0.1", port));
    }

    [SambaFact]
    public async Task Servers_started_in_parallel_get_distinct_ports_and_directories()
    {
        var servers = await Task.WhenAll(
            SambaServer.StartAsync(SambaProfile.Default),
            SambaServer.StartAsync(SambaProfile.MaxSmb3_02));
        try
        {
            Assert.NotEqual(servers[0].Port, servers[1].Port);
            Assert.NotEqual(servers[0].ShareDirectory, servers[1].ShareDirectory);
            foreach (var s in servers)
            {
                var (code, stdout, stderr) = await s.SmbClientAsync("ls");
                Assert.True(code == 0, stdout + stderr);
            }
        }
        finally
        {
            foreach (var s in servers)
            {
                await s.DisposeAsync();
            }
        }
    }
}

/// <summary>Parsing helpers; no server needed.</summary>
public sealed class SmbStatusParsingTests
{
    [Fact]
    public void CountOpenFiles_counts_rows_of_the_locked_files_table()
    {
        var output = new StringBuilder()
            .AppendLine("Samba version 4.17.12-Debian")
            .AppendLine("PID     Username     Group        Machine      Protocol Version  Encryption  Signing")
            .AppendLine("----------------------------------------------------------------------------------")
            .AppendLine("5915    smbtest      smbtest      127.0.0.1 (ipv4:127.0.0.1:46990)  SMB3_11  -  partial(AES-128-GMAC)")
            .AppendLine()
            .AppendLine("Service      pid     Machine       Connected at                     Encryption   Signing")
            .AppendLine("---------------------------------------------------------------------------------------")
            .AppendLine("share        5915    127.0.0.1     Sat Nov 21 14:48:27 2026 UTC     -            -")
            .AppendLine()
            .AppendLine("Locked files:")
            .AppendLine("Pid          User(ID)   DenyMode   Access      R/W        Oplock           SharePath   Name   Time")
            .AppendLine("--------------------------------------------------------------------------------------------------")
            .AppendLine("5915         999        DENY_NONE  0x3         RDWR       NONE             /tmp/x/share   a.txt   Sat Nov 21 14:48:26 2026")
            .AppendLine("5915         999        DENY_NONE  0x80        RDONLY     NONE             /tmp/x/share   b c.txt   Sat Nov 21 14:48:26 2026")
            .AppendLine()
            .ToString();

        Assert.Equal(2, SambaServer.CountOpenFiles(output));
    }

    [Fact]
    public void CountOpenFiles_is_zero_without_locked_files()
    {
        Assert.Equal(0, SambaServer.CountOpenFiles("Samba version 4.17.12\n\nNo locked files\n"));
        Assert.Equal(0, SambaServer.CountOpenFiles(string.Empty));
    }
}
