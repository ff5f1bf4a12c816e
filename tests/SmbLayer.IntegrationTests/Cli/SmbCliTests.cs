using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

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
    public async Task LsJsonAndStatJson_DescribeTheServersFiles()
    {
        var folder = $"cli-json-{Guid.NewGuid():N}";
        Server.CreateShareDirectory(folder);
        Server.CreateShareDirectory($"{folder}/sub");
        var data = RandomNumberGenerator.GetBytes(12345);
        var written = new DateTime(2021, 3, 4, 5, 6, 7, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(Server.WriteShareFile($"{folder}/data.bin", data), written);
        Server.WriteShareFile($"{folder}/\u00e9t\u00e9.txt", "caf\u00e9");

        var ls = await RunAsync(Server.Password, "ls", "--json", Url(folder));
        Assert.True(ls.ExitCode == 0, ls.Stderr);
        Assert.EndsWith("\n", ls.StdoutText, StringComparison.Ordinal);
        using (var listing = JsonDocument.Parse(ls.Stdout))
        {
            Assert.Equal(folder, listing.RootElement.GetProperty("path").GetString());
            // Sorted as the text listing is; "." and ".." left out.
            var array = listing.RootElement.GetProperty("entries").EnumerateArray().ToArray();
            Assert.Equal(["data.bin", "sub", "\u00e9t\u00e9.txt"], array.Select(e => e.GetProperty("name").GetString()));
            var entries = array.ToDictionary(e => e.GetProperty("name").GetString()!);
            var file = entries["data.bin"];
            Assert.Equal($"{folder}/data.bin", file.GetProperty("path").GetString());
            Assert.Equal("file", file.GetProperty("type").GetString());
            Assert.Equal(data.Length, file.GetProperty("size").GetInt64());
            Assert.Equal(written, ParseUtc(file.GetProperty("lastWriteTime")));
            Assert.Equal(5, entries["\u00e9t\u00e9.txt"].GetProperty("size").GetInt64()); // "café" in UTF-8
            var sub = entries["sub"];
            Assert.Equal("directory", sub.GetProperty("type").GetString());
            Assert.Contains("Directory", sub.GetProperty("attributes").EnumerateArray().Select(a => a.GetString()));
            ParseUtc(sub.GetProperty("lastWriteTime"));
        }

        var stat = await RunAsync(Server.Password, "stat", "--json", Url($"{folder}/data.bin"));
        Assert.True(stat.ExitCode == 0, stat.Stderr);
        using (var entry = JsonDocument.Parse(stat.Stdout))
        {
            var root = entry.RootElement;
            Assert.Equal("data.bin", root.GetProperty("name").GetString());
            Assert.Equal($"{folder}/data.bin", root.GetProperty("path").GetString());
            Assert.Equal("file", root.GetProperty("type").GetString());
            Assert.Equal(data.Length, root.GetProperty("size").GetInt64());
            Assert.True(root.GetProperty("allocationSize").GetInt64() >= 0);
            Assert.Equal(written, ParseUtc(root.GetProperty("lastWriteTime")));
            Assert.DoesNotContain("Directory", root.GetProperty("attributes").EnumerateArray().Select(a => a.GetString()));
        }

        var statDirectory = await RunAsync(Server.Password, "stat", "--json", Url($"{folder}/sub"));
        Assert.True(statDirectory.ExitCode == 0, statDirectory.Stderr);
        using (var entry = JsonDocument.Parse(statDirectory.Stdout))
        {
            Assert.Equal("directory", entry.RootElement.GetProperty("type").GetString());
        }

        // ls of a file lists that file alone.
        var lsFile = await RunAsync(Server.Password, "ls", "--json", Url($"{folder}/data.bin"));
        Assert.True(lsFile.ExitCode == 0, lsFile.Stderr);
        using (var listing = JsonDocument.Parse(lsFile.Stdout))
        {
            var only = Assert.Single(listing.RootElement.GetProperty("entries").EnumerateArray());
            Assert.Equal("data.bin", only.GetProperty("name").GetString());
            Assert.Equal(data.Length, only.GetProperty("size").GetInt64());
        }

        var misuse = await RunAsync(Server.Password, "cat", "--json", Url($"{folder}/data.bin"));
        Assert.Equal(2, misuse.ExitCode);
        Assert.Empty(misuse.Stdout);

        static DateTime ParseUtc(JsonElement value)
        {
            var text = value.GetString()!;
            Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$", text);
            var time = DateTime.Parse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind);
            Assert.Equal(DateTimeKind.Utc, time.Kind);
            return time;
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
