using System.Security.Cryptography;
using SmbLayer.Cli;

namespace SmbLayer.Tests.Cli;

/// <summary>
/// <c>smb get</c> into whatever the local path names: a regular file is replaced atomically and keeps its mode;
/// a device, FIFO or socket is written straight into and stays what it was; a symbolic link stays a link.
/// Every special file is made in the test's own temporary directory, never in /dev.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CliGetLocalTargetTests : IDisposable
{
    private readonly CliRun _run = new();
    private readonly string _directory = Directory.CreateTempSubdirectory("smbcli-target-").FullName;
    private readonly byte[] _data = RandomNumberGenerator.GetBytes(200_000);

    public CliGetLocalTargetTests() => _run.FileSystem.Files["f.bin"] = _data;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Local(string name) => Path.Combine(_directory, name);

    private string[] LeftOver() => Directory.GetFileSystemEntries(_directory).Select(Path.GetFileName).Order().ToArray()!;

    [Fact]
    public async Task Get_IntoANullDevice_DeviceStaysACharacterDevice()
    {
        var device = Local("null");
        SpecialFiles.MakeNullDevice(device);

        Assert.Equal(0, await _run.RunAsync("get", "smb://h/s/f.bin", device));

        Assert.True(SpecialFiles.IsCharacterDevice(device, out var number), "the device node was replaced");
        Assert.Equal(SpecialFiles.NullDeviceNumber, number);
        Assert.Equal(["null"], LeftOver());
    }

    [Fact]
    public async Task Get_IntoAFifoWithAReader_ReaderGetsTheBytesAndTheFifoStays()
    {
        var fifo = Local("pipe");
        SpecialFiles.MakeFifo(fifo);
        var reader = SpecialFiles.ReadFifoAsync(fifo);

        Assert.Equal(0, await _run.RunAsync("get", "smb://h/s/f.bin", fifo));

        Assert.Equal(_data, await reader.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(SpecialFiles.IsFifo(fifo), "the FIFO was replaced");
        Assert.Equal(["pipe"], LeftOver());
    }

    [Fact]
    public async Task Get_IntoAFifoNobodyReads_CtrlCReturnsAndTheFifoStays()
    {
        var fifo = Local("lonely");
        SpecialFiles.MakeFifo(fifo);
        using var interrupt = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        // Opening a FIFO for writing waits for a reader, as a shell's redirection does; Ctrl+C still ends the wait.
        Assert.Equal(ExitCodes.Cancelled, await _run.RunAsync(interrupt.Token, "get", "smb://h/s/f.bin", fifo).WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.True(SpecialFiles.IsFifo(fifo), "the FIFO was replaced");
        // A reader that comes late releases the abandoned open (which is then closed at once): the read sees end of file.
        Assert.Empty(await SpecialFiles.ReadFifoAsync(fifo).WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Get_IntoAListeningUnixSocket_PeerGetsTheBytes()
    {
        var path = Local("sock");
        var (listener, received) = SpecialFiles.ListenUnixSocket(path);
        using (listener)
        {
            Assert.Equal(0, await _run.RunAsync("get", "smb://h/s/f.bin", path));

            Assert.Equal(_data, await received.WaitAsync(TimeSpan.FromSeconds(30)));
        }
    }

    [Fact]
    public async Task Get_ThroughASymlink_WritesTheTargetAndKeepsTheLink()
    {
        var target = Local("real.bin");
        await File.WriteAllBytesAsync(target, [1, 2, 3]);
        var link = Local("link.bin");
        File.CreateSymbolicLink(link, "real.bin");

        Assert.Equal(0, await _run.RunAsync("get", "smb://h/s/f.bin", link));

        Assert.Equal("real.bin", new FileInfo(link).LinkTarget);
        Assert.Equal(_data, await File.ReadAllBytesAsync(target));
        Assert.Equal(["link.bin", "real.bin"], LeftOver());
    }

    [Fact]
    public async Task Get_ThroughADanglingSymlink_CreatesTheTargetAndKeepsTheLink()
    {
        var link = Local("link.bin");
        File.CreateSymbolicLink(link, "new.bin");

        Assert.Equal(0, await _run.RunAsync("get", "smb://h/s/f.bin", link));

        Assert.Equal("new.bin", new FileInfo(link).LinkTarget);
        Assert.Equal(_data, await File.ReadAllBytesAsync(Local("new.bin")));
    }

    [Fact]
    public async Task Get_ThroughASymlinkToANullDevice_BothStay()
    {
        var device = Local("null");
        SpecialFiles.MakeNullDevice(device);
        var link = Local("out");
        File.CreateSymbolicLink(link, device);

        Assert.Equal(0, await _run.RunAsync("get", "smb://h/s/f.bin", link));

        Assert.Equal(device, new FileInfo(link).LinkTarget);
        Assert.True(SpecialFiles.IsCharacterDevice(device, out _));
    }

    [Theory]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead)] // read-only, 0444
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead)] // 0640
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute)] // 0700
    public async Task Get_OverAnExistingFile_ReplacesItAndKeepsItsMode(UnixFileMode mode)
    {
        var local = Local("existing.bin");
        await File.WriteAllBytesAsync(local, [9, 9]);
        File.SetUnixFileMode(local, mode);

        // Tests run as root, which may replace a read-only file (as cp does for root).
        Assert.Equal(0, await _run.RunAsync("get", "smb://h/s/f.bin", local));

        Assert.Equal(_data, await File.ReadAllBytesAsync(local));
        Assert.Equal(mode, File.GetUnixFileMode(local));
        Assert.Equal(["existing.bin"], LeftOver());
    }

    [Fact]
    public async Task Get_NewFile_HasTheUsualModeAndNoTemporaryFileIsLeft()
    {
        var local = Local("new.bin");

        Assert.Equal(0, await _run.RunAsync("get", "smb://h/s/f.bin", local));

        Assert.Equal(_data, await File.ReadAllBytesAsync(local));
        Assert.Equal(["new.bin"], LeftOver());
    }

    [Fact]
    public async Task Get_FailsMidTransfer_OldFileKeptAndTheErrorNamesNoTemporaryFile()
    {
        var local = Local("keep.bin");
        await File.WriteAllBytesAsync(local, [7]);
        _run.FileSystem.FailAfterWriting = new IOException("No space left on device");

        Assert.NotEqual(0, await _run.RunAsync("get", "smb://h/s/f.bin", local));

        Assert.Equal([7], await File.ReadAllBytesAsync(local));
        Assert.Equal(["keep.bin"], LeftOver());
        Assert.DoesNotContain(".smbpart", _run.Error.ToString());
    }

    [Fact]
    public async Task Get_IntoAMissingDirectory_ErrorNamesTheTargetNotATemporaryFile()
    {
        var local = Path.Combine(_directory, "no-such-dir", "f.bin");

        Assert.Equal(ExitCodes.NotFound, await _run.RunAsync("get", "smb://h/s/f.bin", local));

        var error = Assert.Single(_run.ErrorLines);
        Assert.Contains(local, error);
        Assert.DoesNotContain(".smbpart", error);
    }

    [Fact]
    public async Task Get_DevStdout_StreamsToStandardOutput()
    {
        Assert.Equal(0, await _run.RunAsync("get", "smb://h/s/f.bin", "/dev/stdout"));

        Assert.Equal(_data, _run.OutBytes.ToArray());
    }
}
