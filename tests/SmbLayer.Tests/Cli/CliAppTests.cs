using System.Text;
using SmbLayer.Cli;
using SmbLayer.Protocol;

namespace SmbLayer.Tests.Cli;

public class CliAppTests
{
    private readonly CliRun _run = new();

    [Theory]
    [InlineData]
    [InlineData("bogus")]
    [InlineData("ls")]
    [InlineData("ls", "not-a-url")]
    [InlineData("stat", "smb://host")]
    [InlineData("rm", "smb://host/share")]
    [InlineData("get", "smb://host/share/")]
    [InlineData("--min-dialect", "9.9", "ls", "smb://h/s")]
    [InlineData("mv", "smb://h/s/a", "smb://h/other/b")]
    [InlineData("-A", "/nonexistent/auth/file", "ls", "smb://h/s")]
    public async Task Run_BadUsage_Exit2WithOneLineAndNoConnection(params string[] args)
    {
        var code = await _run.RunAsync(args);

        Assert.Equal(2, code);
        var line = Assert.Single(_run.ErrorLines);
        Assert.StartsWith("smb: ", line);
        Assert.Equal("", _run.Out.ToString());
        Assert.False(_run.Connected);
    }

    [Theory]
    [InlineData("smb://host")]
    [InlineData("smb://host/")]
    [InlineData("//host")]
    public async Task Ls_ServerOnly_ListsTheSharesAsSmbclientDoes(string url)
    {
        _run.FileSystem.Shares.Add(new SmbShareInfo("share", 0, ""));
        _run.FileSystem.Shares.Add(new SmbShareInfo("a-much-longer-share-name", 0, "with a comment"));
        _run.FileSystem.Shares.Add(new SmbShareInfo("IPC$", 0x80000003, "IPC Service (Samba)"));

        Assert.Equal(0, await _run.RunAsync("ls", url));
        Assert.Equal(["shares smb://host"], _run.FileSystem.Calls);
        Assert.Equal(
            "\tSharename       Type      Comment\n" +
            "\t---------       ----      -------\n" +
            "\tshare           Disk      \n" +
            "\ta-much-longer-share-name Disk      with a comment\n" +
            "\tIPC$            IPC       IPC Service (Samba)\n", _run.Out.ToString().ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Ls_ServerOnly_Json()
    {
        _run.FileSystem.Shares.Add(new SmbShareInfo("share", 0, ""));
        _run.FileSystem.Shares.Add(new SmbShareInfo("IPC$", 0x80000003, "IPC \"x\""));

        Assert.Equal(0, await _run.RunAsync("ls", "--json", "smb://host/"));
        using var doc = System.Text.Json.JsonDocument.Parse(_run.Out.ToString());
        Assert.Equal("host", doc.RootElement.GetProperty("server").GetString());
        var shares = doc.RootElement.GetProperty("shares").EnumerateArray().ToList();
        Assert.Equal(["share", "IPC$"], shares.Select(s => s.GetProperty("name").GetString()));
        Assert.Equal(["disk", "ipc"], shares.Select(s => s.GetProperty("type").GetString()));
        Assert.Equal([false, true], shares.Select(s => s.GetProperty("hidden").GetBoolean()));
        Assert.Equal(0x80000003u, shares[1].GetProperty("typeValue").GetUInt32());
        Assert.Equal("IPC \"x\"", shares[1].GetProperty("comment").GetString());
    }

    [Fact]
    public async Task Run_Help_PrintsUsageToStdoutExit0()
    {
        Assert.Equal(0, await _run.RunAsync("--help"));
        Assert.Contains("Usage: smb", _run.Out.ToString());
        Assert.Contains("SMB_PASSWORD", _run.Out.ToString());
        Assert.Equal("", _run.Error.ToString());
    }

    [Fact]
    public async Task Run_Version_PrintsVersionExit0()
    {
        Assert.Equal(0, await _run.RunAsync("--version"));
        Assert.StartsWith("smb ", _run.Out.ToString());
    }

    [Fact]
    public async Task Run_NoPasswordAndStdinRedirected_Exit2BeforeConnecting()
    {
        _run.Environment.Variables.Remove("SMB_PASSWORD");

        Assert.Equal(2, await _run.RunAsync("ls", "smb://bob@h/s"));
        Assert.Contains("no password", Assert.Single(_run.ErrorLines));
        Assert.False(_run.Connected);
    }

    [Fact]
    public async Task Run_Options_ReachClientOptions()
    {
        var code = await _run.RunAsync("--min-dialect", "3.0", "--max-dialect", "3.0.2", "--sign", "-U", @"CORP\bob%pw", "mkdir", "smb://h/s/d");

        Assert.Equal(0, code);
        var options = _run.FileSystem.Options!;
        Assert.Equal(SmbDialect.Smb300, options.MinDialect);
        Assert.Equal(SmbDialect.Smb302, options.MaxDialect);
        Assert.True(options.RequireSigning);
        Assert.Null(options.LoggerFactory);
        Assert.Equal(("bob", "pw", "CORP"), (options.Credentials!.UserName, options.Credentials.Password, options.Credentials.Domain));
        Assert.True(_run.FileSystem.Disposed);
    }

    [Fact]
    public async Task Run_Verbose_SetsLoggerFactory()
    {
        Assert.Equal(0, await _run.RunAsync("-v", "mkdir", "smb://h/s/d"));
        Assert.NotNull(_run.FileSystem.Options!.LoggerFactory);
    }

    [Fact]
    public async Task Run_UrlCredentials_AreUsedButNotPassedInLocation()
    {
        Assert.Equal(0, await _run.RunAsync("rm", "smb://alice:secret@h/s/f.txt"));

        Assert.Equal(["rm smb://h/s/f.txt"], _run.FileSystem.Calls);
        Assert.Equal(("alice", "secret"), (_run.FileSystem.Options!.Credentials!.UserName, _run.FileSystem.Options.Credentials.Password));
    }

    [Theory]
    [InlineData("rm", "smb://h/s/f", "rm smb://h/s/f")]
    [InlineData("mkdir", "smb://h/s/d", "mkdir smb://h/s/d")]
    [InlineData("rmdir", @"\\h\s\d", "rmdir smb://h/s/d")]
    public async Task Run_SimpleCommands_CallTheLibrary(string command, string url, string expectedCall)
    {
        Assert.Equal(0, await _run.RunAsync(command, url));
        Assert.Equal([expectedCall], _run.FileSystem.Calls);
        Assert.Equal("", _run.Error.ToString());
    }

    [Fact]
    public async Task Run_Mv_PassesPathInShare()
    {
        Assert.Equal(0, await _run.RunAsync("mv", "smb://h/s/dir/a.txt", "smb://h/s/other/"));
        Assert.Equal(["mv smb://h/s/dir/a.txt other/a.txt"], _run.FileSystem.Calls);
    }

    [Fact]
    public async Task Run_Ls_PrintsSortedLongListing()
    {
        var time = new DateTimeOffset(2024, 5, 1, 12, 34, 0, TimeSpan.Zero);
        _run.FileSystem.Listing.Add(new SmbFileInfo { Name = "b.txt", Path = "d/b.txt", Size = 12345, LastWriteTime = time });
        _run.FileSystem.Listing.Add(new SmbFileInfo { Name = "a", Path = "d/a", Attributes = FileAttributes.Directory, LastWriteTime = time });

        Assert.Equal(0, await _run.RunAsync("ls", "smb://h/s/d"));

        var local = time.ToLocalTime().ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal($"d     0  {local}  a/\n- 12345  {local}  b.txt\n", _run.Out.ToString().Replace("\r\n", "\n"));
        Assert.Equal(["list smb://h/s/d *"], _run.FileSystem.Calls);
    }

    [Fact]
    public void AppendListing_SameAsTheObviousFormatting()
    {
        // The hand-written formatter must print exactly what LINQ ordering plus a format string would.
        var summer = new DateTimeOffset(2024, 7, 1, 23, 59, 0, TimeSpan.Zero);
        var winter = new DateTimeOffset(1999, 1, 2, 3, 4, 0, TimeSpan.FromHours(5));
        SmbFileInfo[] entries =
        [
            new() { Name = "b", Path = "b", Size = 5, LastWriteTime = summer },
            new() { Name = "B.txt", Path = "B.txt", Size = 1234567890123, LastWriteTime = winter },
            new() { Name = "a", Path = "a", Attributes = FileAttributes.Directory, LastWriteTime = winter },
            new() { Name = "A", Path = "A", Size = 0, LastWriteTime = summer },
            new() { Name = "\u00e9t\u00e9", Path = "\u00e9t\u00e9", Size = 42, LastWriteTime = summer },
        ];
        var width = entries.Max(e => e.Size.ToString(System.Globalization.CultureInfo.InvariantCulture).Length);
        var expected = entries.OrderBy(e => e.Name, StringComparer.OrdinalIgnoreCase).ThenBy(e => e.Name, StringComparer.Ordinal)
            .Select(e => $"{(e.IsDirectory ? 'd' : '-')} {e.Size.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(width)}  " +
                $"{e.LastWriteTime.ToLocalTime().ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture)}  {e.Name}{(e.IsDirectory ? "/" : "")}")
            .ToArray();

        Assert.Equal(expected, Listing(entries));
        Assert.Empty(Listing([]));

        static string[] Listing(SmbFileInfo[] entries)
        {
            var text = new System.Text.StringBuilder();
            SmbLayer.Cli.CliCommands.AppendListing(text, [.. entries], "\n");
            return text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        }
    }

    [Fact]
    public async Task Run_LsWithPattern_ListsParentWithPattern()
    {
        Assert.Equal(0, await _run.RunAsync("ls", "smb://h/s/d/*.txt"));
        Assert.Equal(["list smb://h/s/d *.txt"], _run.FileSystem.Calls);
    }

    [Fact]
    public async Task Run_LsOfAFile_ShowsTheFile()
    {
        _run.FileSystem.Failure = new SmbStatusException(NtStatus.NotADirectory, "Query directory");

        // The fake fails every call, so the fallback's own error comes out; the point is that it was tried.
        await _run.RunAsync("ls", "smb://h/s/f.txt");

        Assert.Equal(["list smb://h/s/f.txt *", "info smb://h/s/f.txt"], _run.FileSystem.Calls);
    }

    [Fact]
    public async Task Run_Stat_PrintsEveryField()
    {
        Assert.Equal(0, await _run.RunAsync("stat", "smb://h/s/f.txt"));

        var text = _run.Out.ToString();
        foreach (var field in new[] { "Name:", "Path:", "Type:", "Size:", "AllocationSize:", "Attributes:", "CreationTime:", "LastAccessTime:", "LastWriteTime:", "ChangeTime:" })
        {
            Assert.Contains(field, text);
        }
        Assert.Contains("f.txt", text);
    }

    [Fact]
    public async Task Run_Cat_WritesBytesToStdoutStream()
    {
        _run.FileSystem.Files["d/f.txt"] = Encoding.UTF8.GetBytes("hello");

        Assert.Equal(0, await _run.RunAsync("cat", "smb://h/s/d/f.txt"));
        Assert.Equal("hello", Encoding.UTF8.GetString(_run.OutBytes.ToArray()));
    }

    [Fact]
    public async Task Run_GetDash_WritesBytesToStdoutStream()
    {
        _run.FileSystem.Files["f.bin"] = [1, 2, 3];

        Assert.Equal(0, await _run.RunAsync("get", "smb://h/s/f.bin", "-"));
        Assert.Equal([1, 2, 3], _run.OutBytes.ToArray());
    }

    [Fact]
    public async Task Run_GetIntoDirectory_WritesRemoteNameAndLeavesNoPartialFile()
    {
        var directory = Directory.CreateTempSubdirectory("smbcli").FullName;
        try
        {
            _run.FileSystem.Files["d/f.bin"] = [4, 5, 6];

            Assert.Equal(0, await _run.RunAsync("get", "smb://h/s/d/f.bin", directory));

            Assert.Equal([4, 5, 6], await File.ReadAllBytesAsync(Path.Combine(directory, "f.bin")));
            Assert.Single(Directory.GetFiles(directory));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Run_GetMissingRemote_Exit4AndLocalFileUntouched()
    {
        var directory = Directory.CreateTempSubdirectory("smbcli").FullName;
        try
        {
            var local = Path.Combine(directory, "keep.bin");
            await File.WriteAllBytesAsync(local, [9]);

            Assert.Equal(4, await _run.RunAsync("get", "smb://h/s/missing.bin", local));

            Assert.Equal([9], await File.ReadAllBytesAsync(local));
            Assert.Single(Directory.GetFiles(directory));
            Assert.StartsWith("smb: Cannot open", Assert.Single(_run.ErrorLines));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Run_RecursivePutAndGet_CallTheTreeHelpers()
    {
        var local = Directory.CreateTempSubdirectory("smbcli-tree-").FullName;
        try
        {
            Assert.Equal(0, await _run.RunAsync("put", "-r", local, "smb://h/s/dir/"));
            Assert.Equal(0, await _run.RunAsync("get", "--recursive", "smb://h/s/dir/tree", local));

            Assert.Equal(
                [$"upload-tree {local} smb://h/s/dir/{Path.GetFileName(local)}", $"download-tree smb://h/s/dir/tree {Path.Combine(local, "tree")}"],
                _run.FileSystem.Calls);
        }
        finally
        {
            Directory.Delete(local, recursive: true);
        }
    }

    [Theory]
    [InlineData("ls", "-r", "smb://h/s/d")]
    [InlineData("put", "-r", "/nonexistent-smbcli-dir", "smb://h/s/d")]
    [InlineData("get", "-r", "smb://h/s/d", "-")]
    public async Task Run_RecursiveMisuse_IsUsageError(params string[] args)
    {
        Assert.Equal(2, await _run.RunAsync(args));
        Assert.Empty(_run.FileSystem.Calls);
    }

    [Fact]
    public async Task Run_PutToDirectoryUrl_AppendsLocalFileName()
    {
        var local = Path.Combine(Path.GetTempPath(), $"smbcli-{Guid.NewGuid():N}.txt");
        await File.WriteAllTextAsync(local, "data");
        try
        {
            Assert.Equal(0, await _run.RunAsync("put", local, "smb://h/s/dir/"));

            Assert.Equal([$"upload smb://h/s/dir/{Path.GetFileName(local)}"], _run.FileSystem.Calls);
            Assert.Equal("data", Encoding.UTF8.GetString(_run.FileSystem.Files[$"dir/{Path.GetFileName(local)}"]));
        }
        finally
        {
            File.Delete(local);
        }
    }

    [Fact]
    public async Task Run_PutFromStdin_UploadsStdin()
    {
        _run.Environment.StandardInput = [7, 8];

        Assert.Equal(0, await _run.RunAsync("put", "-", "smb://h/s/in.bin"));
        Assert.Equal([7, 8], _run.FileSystem.Files["in.bin"]);
    }

    [Fact]
    public async Task Run_PutMissingLocalFile_Exit4()
    {
        Assert.Equal(4, await _run.RunAsync("put", "/nonexistent/local.txt", "smb://h/s/"));
        Assert.Single(_run.ErrorLines);
    }

    public static TheoryData<Exception, int> LibraryErrors => new()
    {
        { new SmbAuthenticationException(NtStatus.LogonFailure, "Session setup"), 3 },
        { new SmbNotFoundException(NtStatus.BadNetworkName, "Tree connect"), 4 },
        { new SmbConnectionException("Connection refused"), 5 },
        { new SmbTimeoutException("No answer"), 5 },
        { new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.HostNotFound), 5 },
        { new SmbAccessDeniedException(NtStatus.AccessDenied, "Create"), 6 },
        { new SmbProtocolException("Bad signature"), 7 },
        { new SmbSecurityException("Server offers only 2.1"), 7 },
        { new InvalidOperationException("Surprise\nsecond line"), 1 },
    };

    [Theory]
    [MemberData(nameof(LibraryErrors))]
    public async Task Run_LibraryError_OneLineAndMappedExitCode(Exception error, int expected)
    {
        _run.FileSystem.Failure = error;

        Assert.Equal(expected, await _run.RunAsync("rm", "smb://h/s/f"));

        var line = Assert.Single(_run.ErrorLines);
        Assert.StartsWith("smb: ", line);
        Assert.DoesNotContain(" at ", line);
    }

    [Fact]
    public async Task Run_LibraryErrorVerbose_AddsStackTrace()
    {
        _run.FileSystem.Failure = new SmbProtocolException("Bad signature");

        Assert.Equal(7, await _run.RunAsync("-v", "rm", "smb://h/s/f"));

        Assert.Equal("smb: Bad signature", _run.ErrorLines[0]);
        Assert.Contains("SmbLayer.SmbProtocolException", _run.Error.ToString());
    }

    [Fact]
    public async Task Run_CancelledByCtrlC_Exit130()
    {
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        _run.FileSystem.Failure = new OperationCanceledException(cancellation.Token);

        Assert.Equal(130, await _run.RunAsync(cancellation.Token, "rm", "smb://h/s/f"));
        Assert.Equal(["smb: cancelled"], _run.ErrorLines);
    }
}
