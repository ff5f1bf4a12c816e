using System.Buffers.Binary;
using System.Text;
using SmbLayer.Mount;
using SmbLayer.Mount.Fuse;
using SmbLayer.Protocol;

namespace SmbLayer.Tests.Mount;

/// <summary>The FUSE kernel protocol's layouts (linux/fuse.h) as the mount writes and reads them.</summary>
public class FuseProtocolTests
{
    [Fact]
    public void Attr_FieldsAtTheirOffsets()
    {
        var time = DateTimeOffset.UnixEpoch.AddSeconds(1_600_000_000).AddTicks(1234567);
        var attr = new FuseAttr(7, 1000, 8, time, time.AddSeconds(1), time.AddSeconds(2), FuseAttr.S_IFREG | 0x1A4, 1, 1001, 1002);
        var b = new byte[FuseAttr.Size88];
        attr.Write(b);
        Assert.Equal(7ul, BinaryPrimitives.ReadUInt64LittleEndian(b));
        Assert.Equal(1000ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8)));
        Assert.Equal(8ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(16)));
        Assert.Equal(1_600_000_000ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(24))); // atime
        Assert.Equal(1_600_000_001ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(32))); // mtime
        Assert.Equal(1_600_000_002ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(40))); // ctime
        Assert.Equal(123_456_700u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(48))); // atimensec
        Assert.Equal(FuseAttr.S_IFREG | 0x1A4, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(60))); // mode
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(64))); // nlink
        Assert.Equal(1001u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(68))); // uid
        Assert.Equal(1002u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(72))); // gid
        Assert.Equal(4096u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(80))); // blksize
    }

    [Fact]
    public void Dirent_PaddedTo8_OffsetAndType()
    {
        var b = new byte[64];
        b.AsSpan().Fill(0xEE);
        var size = FuseReply.WriteDirent(b, 42, 3, "abc"u8, directory: true);
        Assert.Equal(32, size); // 24 + 3, padded to 8
        Assert.Equal(42ul, BinaryPrimitives.ReadUInt64LittleEndian(b));
        Assert.Equal(3ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8)));
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(16)));
        Assert.Equal(4u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(20))); // DT_DIR
        Assert.Equal("abc", Encoding.ASCII.GetString(b, 24, 3));
        Assert.All(b[27..32], x => Assert.Equal(0, x));
        Assert.Equal(0xEE, b[32]);
    }

    private static byte[] Request(FuseOpcode opcode, byte[] body, int? declared = null)
    {
        var b = new byte[FuseRequest.HeaderSize + body.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)(declared ?? b.Length));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), (uint)opcode);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), 99);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), 5);
        body.CopyTo(b, FuseRequest.HeaderSize);
        return b;
    }

    [Fact]
    public void Request_HeaderAndNames()
    {
        var body = new byte[8].Concat("old\0new\0"u8.ToArray()).ToArray();
        var bytes = Request(FuseOpcode.Rename, body);
        var request = new FuseRequest(bytes, bytes.Length);
        Assert.Equal(FuseOpcode.Rename, request.Opcode);
        Assert.Equal(99ul, request.Unique);
        Assert.Equal(5ul, request.NodeId);
        Assert.Equal("old", request.Name(8, out var next));
        Assert.Equal("new", request.Name(next));
    }

    [Fact]
    public void Request_Malformed_InvalidDataException()
    {
        Assert.Throws<InvalidDataException>(() => new FuseRequest(new byte[10], 10));
        var bytes = Request(FuseOpcode.Lookup, "x\0"u8.ToArray(), declared: 100);
        Assert.Throws<InvalidDataException>(() => new FuseRequest(bytes, bytes.Length));
        var noNul = Request(FuseOpcode.Lookup, "abc"u8.ToArray());
        Assert.Throws<InvalidDataException>(() => new FuseRequest(noNul, noNul.Length).Name(0));
        var shortBody = Request(FuseOpcode.Read, new byte[4]);
        Assert.Throws<InvalidDataException>(() => new FuseRequest(shortBody, shortBody.Length).U64(0));
    }

    [Theory]
    [InlineData(NtStatus.ObjectNameNotFound, Errno.ENOENT)]
    [InlineData(NtStatus.ObjectPathNotFound, Errno.ENOENT)]
    [InlineData(NtStatus.AccessDenied, Errno.EACCES)]
    [InlineData(NtStatus.ObjectNameCollision, Errno.EEXIST)]
    [InlineData(NtStatus.DirectoryNotEmpty, Errno.ENOTEMPTY)]
    [InlineData(NtStatus.NotADirectory, Errno.ENOTDIR)]
    [InlineData(NtStatus.FileIsADirectory, Errno.EISDIR)]
    [InlineData(NtStatus.DiskFull, Errno.ENOSPC)]
    [InlineData(NtStatus.MediaWriteProtected, Errno.EROFS)]
    [InlineData(NtStatus.NetworkNameDeleted, Errno.EIO)]
    public void Errors_MapToTheErrnoProgramsExpect(NtStatus status, int errno) =>
        Assert.Equal(errno, ShareFileSystem.ToErrno(SmbStatusException.Create(status, "x")));

    [Fact]
    public void Timeouts_AndLostHandles_AreEio()
    {
        Assert.Equal(Errno.EIO, ShareFileSystem.ToErrno(new SmbTimeoutException("soft")));
        Assert.Equal(Errno.EIO, ShareFileSystem.ToErrno(new SmbHandleLostException("lost")));
    }
}
