using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace SmbLayer.IntegrationTests.Cli;

/// <summary>The real `smb` program (the built smb.dll run as a process) against Samba.</summary>
[Collection(SambaCollections.Default)]
public sealed class SmbCliTests(DefaultSambaFixture fixture)
{
    private SambaServer Server => fixture.Server;

    private sealed record Result(int ExitCode, byte[] Stdout, string Stderr)
    {
        public string StdoutText => Encoding.UTF8.GetString(Stdout);
    }

    private async Task<Result> RunAsync(string? password, params string[] args)
    {
        var (code, stdout, stderr) = await SmbProgram.RunAsync(password, Server.UserName, args);
        return new Result(code, stdout, stderr);
    }

    private string Url(string path) => Server.Url(path);

    [SambaFact]
    public async Task PutLsGetCatStatMvRmMkdirRmdir_Work()
    {
        var folder = $"cli-{Guid.NewGuid():N}";
        Server.CreateShareDirectory(folder);
        var local = Path.Combine(Path.GetTempPath(), $"smbcli-{Guid.NewGuid():N}");
        Directory.CreateDirectory(local);
        try
        {
            var data = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);
            var source = Path.Combine(local, "data.bin");
            await File.WriteAllBytesAsync(source, data);

            var put = await RunAsync(Server.Password, "put", source, Url($"{folder}/"));
            Assert.True(put.ExitCode == 0, put.Stderr);
            Assert.Equal(data, await File.ReadAllBytesAsync(Server.LocalPath($"{folder}/data.bin")));

            var ls = await RunAsync(Server.Password, "ls", Url(folder));
            Assert.True(ls.ExitCode == 0, ls.Stderr);
            Assert.Contains("data.bin", ls.StdoutText, StringComparison.Ordinal);
            Assert.Contains(data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), ls.StdoutText, StringComparison.Ordinal);

            var target = Path.Combine(local, "back.bin");
            var get = await RunAsync(Server.Password, "get", Url($"{folder}/data.bin"), target);
            Assert.True(get.ExitCode == 0, get.Stderr);
            Assert.Equal(data, await File.ReadAllBytesAsync(target));

            var cat = await RunAsync(Server.Password, "cat", Url($"{folder}/data.bin"));
            Assert.Equal(0, cat.ExitCode);
            Assert.Equal(data, cat.Stdout);

            var getDash = await RunAsync(Server.Password, "get", Url($"{folder}/data.bin"), "-");
            Assert.Equal(data, getDash.Stdout);

            var stat = await RunAsync(Server.Password, "stat", Url($"{folder}/data.bin"));
            Assert.True(stat.ExitCode == 0, stat.Stderr);
            Assert.Contains(data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), stat.StdoutText, StringComparison.Ordinal);

            Assert.Equal(0, (await RunAsync(Server.Password, "mkdir", Url($"{folder}/d"))).ExitCode);
            Assert.True(Directory.Exists(Server.LocalPath($"{folder}/d")));
            Assert.Equal(0, (await RunAsync(Server.Password, "mv", Url($"{folder}/data.bin"), $"{folder}/d/moved.bin")).ExitCode);
            Assert.True(File.Exists(Server.LocalPath($"{folder}/d/moved.bin")));
            Assert.Equal(0, (await RunAsync(Server.Password, "rm", Url($"{folder}/d/moved.bin"))).ExitCode);
            Assert.False(File.Exists(Server.LocalPath($"{folder}/d/moved.bin")));
            Assert.Equal(0, (await RunAsync(Server.Password, "rmdir", Url($"{folder}/d"))).ExitCode);
            Assert.False(Directory.Exists(Server.LocalPath($"{folder}/d")));
        }
        finally
        {
            Directory.Delete(local, recursive: true);
        }
    }

    [SambaFact]
    public async Task WrongPassword_ExitCode3_OneLine()
    {
        var r = await RunAsync("wrong-password", "ls", Url(""));
        Assert.Equal(3, r.ExitCode);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.StartsWith("smb: ", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-password", r.Stderr, StringComparison.Ordinal);
    }

    [SambaFact]
    public async Task MissingFile_ExitCode4()
    {
        var r = await RunAsync(Server.Password, "cat", Url("no-such-file.txt"));
        Assert.Equal(4, r.ExitCode);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }

    [SambaFact]
    public async Task NothingListening_ExitCode5()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var r = await RunAsync(Server.Password, "ls", $"smb://127.0.0.1:{port}/share");
        Assert.Equal(5, r.ExitCode);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }

    [SambaFact]
    public async Task BadUrl_ExitCode2()
    {
        var r = await RunAsync(Server.Password, "ls", "http://127.0.0.1/share");
        Assert.Equal(2, r.ExitCode);
    }
}
