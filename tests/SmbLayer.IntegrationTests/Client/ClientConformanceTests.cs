using System.Security.Cryptography;
using SmbLayer.Protocol;

namespace SmbLayer.IntegrationTests.Client;

/// <summary>
/// What the core client must do against every Samba profile (issue "core client", Must show):
/// byte-exact 64 MiB round trip, a 10,000-entry listing, Unicode names, typed errors, and the
/// namespace operations. Each profile runs the same tests through a subclass below.
/// </summary>
public abstract class ClientConformanceTests
{
    private readonly SambaFixture _fixture;

    protected ClientConformanceTests(SambaFixture fixture) => _fixture = fixture;

    protected SambaServer Server => _fixture.Server;

    /// <summary>The dialect the profile should end up with.</summary>
    protected abstract SmbDialect ExpectedDialect { get; }

    /// <summary>Client-side dialect cap (to exercise 2.0.2 against a server that offers more).</summary>
    protected virtual SmbDialect ClientMaxDialect => SmbDialect.Smb311;

    protected virtual bool RequireSigning => false;

    protected virtual bool RequireEncryption => false;

    /// <summary>Whether the session's answers are signed or encrypted (by the client's or the server's choice).</summary>
    protected virtual bool AnswersProtected => RequireSigning || RequireEncryption;

    /// <summary>A unique folder per test so tests sharing one server never collide.</summary>
    private string NewFolder([System.Runtime.CompilerServices.CallerMemberName] string name = "")
    {
        var folder = $"{GetType().Name}-{name}-{Guid.NewGuid():N}"[..Math.Min(80, GetType().Name.Length + name.Length + 34)];
        Server.CreateShareDirectory(folder);
        return folder;
    }

    protected SmbClient NewClient(string? password = null) => new(new SmbClientOptions
    {
        Credentials = new SmbCredentials(Server.UserName, password ?? Server.Password),
        MaxDialect = ClientMaxDialect,
        RequireSigning = RequireSigning,
        RequireEncryption = RequireEncryption,
    });

    [SambaFact]
    public async Task Negotiate_ProfileDialect_IsChosen()
    {
        await using var client = NewClient();
        Assert.Equal(ExpectedDialect, await client.GetDialectAsync(Server.Url()));
    }

    /// <summary>Most of a transfer's bytes went straight between file and socket on Linux with a plain session; none otherwise.</summary>
    private void AssertDirectOnlyWhenPlain(long direct, int length, string where)
    {
        if (OperatingSystem.IsLinux() && !AnswersProtected)
        {
            Assert.True(direct > length / 2, $"only {direct} of {length} bytes went straight {where}");
        }
        else
        {
            Assert.Equal(0, direct);
        }
    }

    [SambaFact]
    public async Task Download_IntoLocalFileAtAnOffset_IsByteExact_SplicedOnlyWhenPlain()
    {
        var folder = NewFolder();
        var data = RandomNumberGenerator.GetBytes(5 * 1024 * 1024 + 12345);
        await using var client = NewClient();
        var url = Server.Url($"{folder}/f.bin");
        await client.UploadAsync(new MemoryStream(data), url);
        var local = Path.Combine(Path.GetTempPath(), $"smblayer-download-{Guid.NewGuid():N}.bin");
        var prefix = "local header, still in the FileStream's buffer"u8.ToArray();
        var trailer = "written after the download"u8.ToArray();
        try
        {
            await using (var file = new FileStream(local, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 4096, useAsync: true))
            {
                await file.WriteAsync(prefix);
                Assert.Equal(data.Length, await client.DownloadAsync(url, file));
                Assert.Equal(prefix.Length + data.Length, file.Position);
                Assert.Equal(prefix.Length + data.Length, file.Length);
                await file.WriteAsync(trailer);
            }
            var back = await File.ReadAllBytesAsync(local);
            Assert.Equal(prefix.Length + data.Length + trailer.Length, back.Length);
            Assert.Equal(prefix, back[..prefix.Length]);
            Assert.True(back.AsSpan(prefix.Length, data.Length).SequenceEqual(data), "downloaded bytes differ");
            Assert.Equal(trailer, back[(prefix.Length + data.Length)..]);
            // On Linux, plain answers go from the socket into the file inside the kernel; signed or encrypted
            // ones must be verified or decrypted first and are never spliced.
            AssertDirectOnlyWhenPlain(client.BytesReadIntoFiles, data.Length, "into the file");
        }
        finally
        {
            File.Delete(local);
        }
    }

    [SambaFact]
    public async Task Upload_FromLocalFileAtAnOffset_IsByteExact_SentFromTheFileOnlyWhenPlain()
    {
        var folder = NewFolder();
        var data = RandomNumberGenerator.GetBytes(5 * 1024 * 1024 + 4321);
        var skip = 777;
        var local = Path.Combine(Path.GetTempPath(), $"smblayer-upload-{Guid.NewGuid():N}.bin");
        await File.WriteAllBytesAsync(local, [.. new byte[skip], .. data]);
        await using var client = NewClient();
        var url = Server.Url($"{folder}/up.bin");
        try
        {
            await using (var file = new FileStream(local, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, useAsync: true))
            {
                file.Position = skip;
                Assert.Equal(data.Length, await client.UploadAsync(file, url));
                Assert.Equal(skip + data.Length, file.Position);
            }
            Assert.Equal(data, await File.ReadAllBytesAsync(Server.LocalPath($"{folder}/up.bin")));
            // On Linux, plain WRITEs go from the local file to the socket with sendfile; signed or encrypted
            // ones need their bytes in memory and never do.
            AssertDirectOnlyWhenPlain(client.BytesSentFromFiles, data.Length, "from the file");
        }
        finally
        {
            File.Delete(local);
        }
    }

    [SambaFact]
    public async Task PutThenGet_64MiBRandomFile_IsByteExact()
    {
        var folder = NewFolder();
        var data = RandomNumberGenerator.GetBytes(64 * 1024 * 1024);
        await using var client = NewClient();
        var url = Server.Url($"{folder}/big.bin");

        Assert.Equal(data.Length, await client.UploadAsync(new MemoryStream(data), url));
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(await File.ReadAllBytesAsync(Server.LocalPath($"{folder}/big.bin"))));

        var back = new MemoryStream();
        Assert.Equal(data.Length, await client.DownloadAsync(url, back));
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(back.ToArray()));

        // And through the Stream API with small reads, which exercises read-ahead reassembly.
        await using var stream = await client.OpenReadAsync(url);
        var viaStream = new MemoryStream();
        var buffer = new byte[100_003];
        int n;
        while ((n = await stream.ReadAsync(buffer)) > 0)
        {
            viaStream.Write(buffer, 0, n);
        }
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(viaStream.ToArray()));
        Assert.Equal(0, await Server.CountOpenFilesAsync() - 1); // only the stream above is open
    }

    [SambaFact]
    public async Task List_10000EntryDirectory_ReturnsAllNames()
    {
        var folder = NewFolder();
        var expected = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 10_000; i++)
        {
            var name = $"entry-{i:D5}.txt";
            File.WriteAllBytes(Path.Combine(Server.LocalPath(folder), name), []);
            expected.Add(name);
        }
        await using var client = NewClient();
        var seen = new List<string>();
        await foreach (var entry in client.ListAsync(Server.Url(folder)))
        {
            seen.Add(entry.Name);
        }
        Assert.Equal(10_000, seen.Count);
        Assert.True(expected.SetEquals(seen));
    }

    [SambaFact]
    public async Task CompoundedStatDeleteRename_WorkAndLeaveNoHandles()
    {
        var folder = NewFolder();
        Server.WriteShareFile($"{folder}/a.bin", new byte[12345]);
        await using var client = NewClient();

        var info = await client.GetInfoAsync(Server.Url($"{folder}/a.bin"));
        Assert.Equal(12345, info.Size);
        Assert.False(info.IsDirectory);
        Assert.True((await client.GetInfoAsync(Server.Url(folder))).IsDirectory);

        await client.RenameAsync(Server.Url($"{folder}/a.bin"), $"{folder}/b.bin");
        Assert.False(File.Exists(Server.LocalPath($"{folder}/a.bin")));
        Assert.True(File.Exists(Server.LocalPath($"{folder}/b.bin")));

        await client.DeleteFileAsync(Server.Url($"{folder}/b.bin"));
        Assert.False(File.Exists(Server.LocalPath($"{folder}/b.bin")));
        Assert.Equal(0, await Server.CountOpenFilesAsync());
    }

    [SambaFact]
    public async Task CompoundedOperations_MissingFile_AreNotFound()
    {
        var folder = NewFolder();
        await using var client = NewClient();
        var missing = Server.Url($"{folder}/missing.bin");
        await Assert.ThrowsAsync<SmbNotFoundException>(() => client.GetInfoAsync(missing));
        await Assert.ThrowsAsync<SmbNotFoundException>(() => client.DeleteFileAsync(missing));
        await Assert.ThrowsAsync<SmbNotFoundException>(() => client.RenameAsync(missing, $"{folder}/other.bin"));
        await Assert.ThrowsAsync<SmbNotFoundException>(() => client.DownloadAsync(missing, new MemoryStream()));
        Assert.Equal(0, await Server.CountOpenFilesAsync());
    }

    [SambaFact]
    public async Task SmallAndBoundaryFiles_RoundTrip()
    {
        var folder = NewFolder();
        await using var client = NewClient();
        // Empty, small (one compound), and just past the compound limit (compound, then streamed).
        foreach (var size in new[] { 0, 1, 4096, 1024 * 1024, 1024 * 1024 + 17, 3 * 1024 * 1024 + 5 })
        {
            var data = RandomNumberGenerator.GetBytes(size);
            var url = Server.Url($"{folder}/f{size}.bin");
            Assert.Equal(size, await client.UploadAsync(new MemoryStream(data), url));
            Assert.Equal(data, await File.ReadAllBytesAsync(Server.LocalPath($"{folder}/f{size}.bin")));
            var back = new MemoryStream();
            Assert.Equal(size, await client.DownloadAsync(url, back));
            Assert.Equal(data, back.ToArray());
        }
        Assert.Equal(0, await Server.CountOpenFilesAsync());
    }

    [SambaFact]
    public async Task RecursiveUploadThenDownload_TreeIsIdentical()
    {
        var folder = NewFolder();
        var local = Directory.CreateTempSubdirectory("smblayer-tree-");
        var back = Path.Combine(Path.GetTempPath(), $"smblayer-back-{Guid.NewGuid():N}");
        try
        {
            var expected = new Dictionary<string, byte[]>();
            for (var i = 0; i < 40; i++)
            {
                var relative = (i % 3) switch { 0 => $"f{i}.bin", 1 => $"sub/f{i}.bin", _ => $"sub/deeper/f{i}.bin" };
                var data = RandomNumberGenerator.GetBytes(i == 7 ? 2 * 1024 * 1024 + 3 : i * 311);
                Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(local.FullName, relative))!);
                await File.WriteAllBytesAsync(Path.Combine(local.FullName, relative), data);
                expected[relative] = data;
            }
            Directory.CreateDirectory(Path.Combine(local.FullName, "empty"));
            await using var client = NewClient();

            var up = await client.UploadDirectoryAsync(local.FullName, Server.Url($"{folder}/tree"), maxConcurrency: 8);
            Assert.Equal(40, up.Files);
            Assert.Equal(3, up.Directories);
            foreach (var (relative, data) in expected)
            {
                Assert.Equal(data, await File.ReadAllBytesAsync(Server.LocalPath($"{folder}/tree/{relative}")));
            }
            Assert.True(Directory.Exists(Server.LocalPath($"{folder}/tree/empty")));

            var down = await client.DownloadDirectoryAsync(Server.Url($"{folder}/tree"), back, maxConcurrency: 8);
            Assert.Equal(40, down.Files);
            Assert.Equal(expected.Values.Sum(d => (long)d.Length), down.Bytes);
            foreach (var (relative, data) in expected)
            {
                Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(back, relative)));
            }
            Assert.True(Directory.Exists(Path.Combine(back, "empty")));
            Assert.Equal(1, client.PooledConnectionCount);
            Assert.Equal(0, await Server.CountOpenFilesAsync());
        }
        finally
        {
            local.Delete(recursive: true);
            if (Directory.Exists(back))
            {
                Directory.Delete(back, recursive: true);
            }
        }
    }

    [SambaFact]
    public async Task UnicodeName_RoundTrips()
    {
        var folder = NewFolder();
        const string name = "Grüße 日本 ü.txt";
        var content = "unicode content 🐟"u8.ToArray();
        await using var client = NewClient();
        await client.UploadAsync(new MemoryStream(content), Server.Url($"{folder}/{name}"));

        Assert.True(File.Exists(Path.Combine(Server.LocalPath(folder), name)), "the server stored the name as given");
        var names = new List<string>();
        await foreach (var e in client.ListAsync(Server.Url(folder)))
        {
            names.Add(e.Name);
        }
        Assert.Equal([name], names);
        var back = new MemoryStream();
        await client.DownloadAsync(Server.Url($"{folder}/{name}"), back);
        Assert.Equal(content, back.ToArray());
    }

    [SambaFact]
    public async Task WrongPassword_IsAuthenticationError()
    {
        await using var client = NewClient(password: "definitely-not-the-password");
        var error = await Assert.ThrowsAsync<SmbAuthenticationException>(() => client.GetInfoAsync(Server.Url()));
        Assert.Equal(NtStatus.LogonFailure, error.Status);
        Assert.DoesNotContain("definitely-not-the-password", error.ToString(), StringComparison.Ordinal);
    }

    [SambaFact]
    public async Task MissingFile_IsNotFoundError()
    {
        var folder = NewFolder();
        await using var client = NewClient();
        await Assert.ThrowsAsync<SmbNotFoundException>(() => client.GetInfoAsync(Server.Url($"{folder}/nope.txt")));
        await Assert.ThrowsAsync<SmbNotFoundException>(() => client.OpenReadAsync(Server.Url($"{folder}/nope.txt")));
        await Assert.ThrowsAsync<SmbNotFoundException>(() => client.DeleteFileAsync(Server.Url($"{folder}/nope/deeper.txt")));
    }

    [SambaFact]
    public async Task MissingShare_IsNotFoundError()
    {
        await using var client = NewClient();
        var url = $"smb://{Server.Host}:{Server.Port}/no-such-share/x";
        var error = await Assert.ThrowsAsync<SmbNotFoundException>(() => client.GetInfoAsync(url));
        Assert.Equal(NtStatus.BadNetworkName, error.Status);
    }

    [SambaFact]
    public async Task MkdirStatMvRmRmdir_DoWhatTheySay()
    {
        var folder = NewFolder();
        await using var client = NewClient();
        var dir = Server.Url($"{folder}/sub");
        await client.CreateDirectoryAsync(dir);
        Assert.True(Directory.Exists(Server.LocalPath($"{folder}/sub")));
        var dirInfo = await client.GetInfoAsync(dir);
        Assert.True(dirInfo.IsDirectory);
        await Assert.ThrowsAsync<SmbStatusException>(() => client.CreateDirectoryAsync(dir)); // already exists

        var file = Server.Url($"{folder}/sub/a.txt");
        await client.UploadAsync(new MemoryStream(new byte[1234]), file);
        var info = await client.GetInfoAsync(file);
        Assert.False(info.IsDirectory);
        Assert.Equal(1234, info.Size);
        Assert.Equal("a.txt", info.Name);
        Assert.True(info.LastWriteTime > DateTimeOffset.UtcNow.AddMinutes(-5));

        await client.RenameAsync(file, $"{folder}/sub/b.txt");
        Assert.False(File.Exists(Server.LocalPath($"{folder}/sub/a.txt")));
        Assert.True(File.Exists(Server.LocalPath($"{folder}/sub/b.txt")));

        // A directory that is not empty cannot be removed.
        var notEmpty = await Assert.ThrowsAsync<SmbStatusException>(() => client.DeleteDirectoryAsync(dir));
        Assert.Equal(NtStatus.DirectoryNotEmpty, notEmpty.Status);

        await client.DeleteFileAsync(Server.Url($"{folder}/sub/b.txt"));
        Assert.False(File.Exists(Server.LocalPath($"{folder}/sub/b.txt")));
        await client.DeleteDirectoryAsync(dir);
        Assert.False(Directory.Exists(Server.LocalPath($"{folder}/sub")));
    }

    [SambaFact]
    public async Task OverwriteFalse_ExistingFile_IsCollision()
    {
        var folder = NewFolder();
        Server.WriteShareFile($"{folder}/x.txt", "x");
        await using var client = NewClient();
        var error = await Assert.ThrowsAsync<SmbStatusException>(() => client.OpenWriteAsync(Server.Url($"{folder}/x.txt"), overwrite: false));
        Assert.Equal(NtStatus.ObjectNameCollision, error.Status);
    }

    [SambaFact]
    public async Task FileSystemInfo_ReportsSizes()
    {
        await using var client = NewClient();
        var fs = await client.GetFileSystemInfoAsync(Server.Url());
        Assert.True(fs.TotalBytes > 0);
        Assert.InRange(fs.FreeBytes, 0, fs.TotalBytes);
    }
}

[Collection(SambaCollections.Default)]
public sealed class DefaultProfileConformanceTests(DefaultSambaFixture fixture) : ClientConformanceTests(fixture)
{
    protected override SmbDialect ExpectedDialect => SmbDialect.Smb311;
}

[Collection(SambaCollections.Default)]
public sealed class Smb202ClientCapConformanceTests(DefaultSambaFixture fixture) : ClientConformanceTests(fixture)
{
    protected override SmbDialect ExpectedDialect => SmbDialect.Smb202;
    protected override SmbDialect ClientMaxDialect => SmbDialect.Smb202;
}

[Collection(SambaCollections.SigningMandatory)]
public sealed class SigningMandatoryConformanceTests(SigningMandatorySambaFixture fixture) : ClientConformanceTests(fixture)
{
    protected override SmbDialect ExpectedDialect => SmbDialect.Smb311;
    protected override bool AnswersProtected => true;
}

[Collection(SambaCollections.SigningMandatory)]
public sealed class SigningMandatorySmb210ConformanceTests(SigningMandatorySambaFixture fixture) : ClientConformanceTests(fixture)
{
    protected override SmbDialect ExpectedDialect => SmbDialect.Smb210;
    protected override SmbDialect ClientMaxDialect => SmbDialect.Smb210;
    protected override bool AnswersProtected => true;
}

[Collection(SambaCollections.Default)]
public sealed class ClientRequiresSigningConformanceTests(DefaultSambaFixture fixture) : ClientConformanceTests(fixture)
{
    protected override SmbDialect ExpectedDialect => SmbDialect.Smb311;
    protected override bool RequireSigning => true;
}

[Collection(SambaCollections.MaxSmb2_10)]
public sealed class MaxSmb210ConformanceTests(MaxSmb2_10SambaFixture fixture) : ClientConformanceTests(fixture)
{
    protected override SmbDialect ExpectedDialect => SmbDialect.Smb210;
}

[Collection(SambaCollections.MaxSmb3_00)]
public sealed class MaxSmb300ConformanceTests(MaxSmb3_00SambaFixture fixture) : ClientConformanceTests(fixture)
{
    protected override SmbDialect ExpectedDialect => SmbDialect.Smb300;
}

[Collection(SambaCollections.MaxSmb3_02)]
public sealed class MaxSmb302ConformanceTests(MaxSmb3_02SambaFixture fixture) : ClientConformanceTests(fixture)
{
    protected override SmbDialect ExpectedDialect => SmbDialect.Smb302;
}

[Collection(SambaCollections.EncryptionRequired)]
public sealed class EncryptionRequiredConformanceTests(EncryptionRequiredSambaFixture fixture) : ClientConformanceTests(fixture)
{
    protected override SmbDialect ExpectedDialect => SmbDialect.Smb311;
    protected override bool AnswersProtected => true;
}

[Collection(SambaCollections.MaxSmb3_00)]
public sealed class ClientRequiresEncryptionSmb300ConformanceTests(MaxSmb3_00SambaFixture fixture) : ClientConformanceTests(fixture)
{
    protected override SmbDialect ExpectedDialect => SmbDialect.Smb300;
    protected override bool RequireEncryption => true;
}
