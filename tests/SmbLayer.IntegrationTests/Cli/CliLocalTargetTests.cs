using System.Security.Cryptography;
using SmbLayer.Tests;

namespace SmbLayer.IntegrationTests.Cli;

/// <summary>
/// The shipped `smb get` (and `get -r`, and the library's DownloadDirectoryAsync) against Samba, into local
/// targets that are not plain files: a null device and a FIFO made in a temporary directory (never in /dev),
/// a symbolic link, a read-only file. Each stays what it was and gets the bytes.
/// </summary>
[Collection(SambaCollections.Default)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CliLocalTargetTests(DefaultSambaFixture fixture) : IDisposable
{
    private readonly string _local = Directory.CreateTempSubdirectory("smbcli-local-").FullName;
    private SambaServer Server => fixture.Server;

    public void Dispose() => Directory.Delete(_local, recursive: true);

    private async Task<(int ExitCode, byte[] Stdout, string Stderr)> SmbAsync(params string[] args) =>
        await SmbProgram.RunAsync(Server.Password, Server.UserName, args);

    /// <summary>A remote file of <paramref name="size"/> random bytes (large enough for the streamed path, not only the compound).</summary>
    private (string Url, byte[] Data) RemoteFile(int size = 3 * 1024 * 1024 + 5)
    {
        var name = $"target-{Guid.NewGuid():N}.bin";
        var data = RandomNumberGenerator.GetBytes(size);
        Server.WriteShareFile(name, data);
        return (Server.Url(name), data);
    }

    [SambaFact]
    public async Task Get_IntoANullDevice_DeviceStays()
    {
        var (url, _) = RemoteFile();
        var device = Path.Combine(_local, "null");
        SpecialFiles.MakeNullDevice(device);

        var result = await SmbAsync("get", url, device);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.True(SpecialFiles.IsCharacterDevice(device, out var number), "get replaced the device node");
        Assert.Equal(SpecialFiles.NullDeviceNumber, number);
        Assert.Equal(["null"], Directory.GetFileSystemEntries(_local).Select(Path.GetFileName));
    }

    [SambaFact]
    public async Task Get_IntoAFifoWithAReader_ReaderGetsEveryByte()
    {
        var (url, data) = RemoteFile();
        var fifo = Path.Combine(_local, "pipe");
        SpecialFiles.MakeFifo(fifo);
        var reader = SpecialFiles.ReadFifoAsync(fifo);

        var result = await SmbAsync("get", url, fifo);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(data, await reader.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.True(SpecialFiles.IsFifo(fifo), "get replaced the FIFO");
    }

    [SambaFact]
    public async Task Get_ThroughASymlink_TargetWrittenLinkKept()
    {
        var (url, data) = RemoteFile();
        var target = Path.Combine(_local, "real.bin");
        await File.WriteAllBytesAsync(target, [1]);
        var link = Path.Combine(_local, "link.bin");
        File.CreateSymbolicLink(link, target);

        var result = await SmbAsync("get", url, link);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(target, new FileInfo(link).LinkTarget);
        Assert.Equal(data, await File.ReadAllBytesAsync(target));
    }

    [SambaFact]
    public async Task Get_OverAReadOnlyFile_ReplacedByteExactModeKept()
    {
        var (url, data) = RemoteFile();
        var local = Path.Combine(_local, "ro.bin");
        await File.WriteAllBytesAsync(local, [1, 2]);
        File.SetUnixFileMode(local, UnixFileMode.UserRead | UnixFileMode.GroupRead);

        var result = await SmbAsync("get", url, local);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(data, await File.ReadAllBytesAsync(local));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.GroupRead, File.GetUnixFileMode(local));
        Assert.Equal(["ro.bin"], Directory.GetFileSystemEntries(_local).Select(Path.GetFileName));
    }

    [SambaFact]
    public async Task GetRecursive_DestinationHoldsANullDeviceALinkAndAReadOnlyFile_EachKeptAndWritten()
    {
        var folder = $"tree-{Guid.NewGuid():N}";
        Server.CreateShareDirectory(folder);
        var big = RandomNumberGenerator.GetBytes(2 * 1024 * 1024 + 1);
        var small = RandomNumberGenerator.GetBytes(1000);
        Server.WriteShareFile($"{folder}/null", small);
        Server.WriteShareFile($"{folder}/linked.bin", big);
        Server.WriteShareFile($"{folder}/ro.bin", small);
        var destination = Path.Combine(_local, folder);
        Directory.CreateDirectory(destination);
        SpecialFiles.MakeNullDevice(Path.Combine(destination, "null"));
        var elsewhere = Path.Combine(_local, "elsewhere.bin");
        File.CreateSymbolicLink(Path.Combine(destination, "linked.bin"), elsewhere);
        await File.WriteAllBytesAsync(Path.Combine(destination, "ro.bin"), [5]);
        File.SetUnixFileMode(Path.Combine(destination, "ro.bin"), UnixFileMode.UserRead);

        var result = await SmbAsync("get", "-r", Server.Url(folder), _local + "/");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.True(SpecialFiles.IsCharacterDevice(Path.Combine(destination, "null"), out _), "get -r replaced the device node");
        Assert.Equal(elsewhere, new FileInfo(Path.Combine(destination, "linked.bin")).LinkTarget);
        Assert.Equal(big, await File.ReadAllBytesAsync(elsewhere));
        Assert.Equal(small, await File.ReadAllBytesAsync(Path.Combine(destination, "ro.bin")));
        Assert.Equal(UnixFileMode.UserRead, File.GetUnixFileMode(Path.Combine(destination, "ro.bin")));
        Assert.Equal(["linked.bin", "null", "ro.bin"], Directory.GetFileSystemEntries(destination).Select(Path.GetFileName).Order());
    }
}
