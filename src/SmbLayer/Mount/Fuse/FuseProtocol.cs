using System.Buffers.Binary;
using System.Text;

namespace SmbLayer.Mount.Fuse;

/// <summary>FUSE request opcodes (linux/fuse.h, protocol 7.x) this file system answers or knows of.</summary>
internal enum FuseOpcode : uint
{
    Lookup = 1,
    Forget = 2,
    GetAttr = 3,
    SetAttr = 4,
    ReadLink = 5,
    Symlink = 6,
    MkNod = 8,
    MkDir = 9,
    Unlink = 10,
    RmDir = 11,
    Rename = 12,
    Link = 13,
    Open = 14,
    Read = 15,
    Write = 16,
    StatFs = 17,
    Release = 18,
    Fsync = 20,
    SetXAttr = 21,
    GetXAttr = 22,
    ListXAttr = 23,
    RemoveXAttr = 24,
    Flush = 25,
    Init = 26,
    OpenDir = 27,
    ReadDir = 28,
    ReleaseDir = 29,
    FsyncDir = 30,
    GetLk = 31,
    SetLk = 32,
    SetLkW = 33,
    Access = 34,
    Create = 35,
    Interrupt = 36,
    BMap = 37,
    Destroy = 38,
    IoCtl = 39,
    Poll = 40,
    BatchForget = 42,
    Fallocate = 43,
    ReadDirPlus = 44,
    Rename2 = 45,
    LSeek = 46,
    CopyFileRange = 47,
}

/// <summary>errno values the file system answers with (Linux).</summary>
internal static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int EACCES = 13;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int EXDEV = 18;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int EINVAL = 22;
    public const int EFBIG = 27;
    public const int ENOSPC = 28;
    public const int EROFS = 30;
    public const int ENAMETOOLONG = 36;
    public const int ENOSYS = 38;
    public const int ENOTEMPTY = 39;
    public const int ENODATA = 61;
    public const int EOPNOTSUPP = 95;
    public const int ETIMEDOUT = 110;
    public const int ENODEV = 19;
    public const int EPROTO = 71;
}

/// <summary>One request read from the device: the fuse_in_header (40 bytes) and the body after it.</summary>
internal readonly struct FuseRequest
{
    public const int HeaderSize = 40;

    public FuseRequest(byte[] buffer, int length)
    {
        if (length < HeaderSize)
        {
            throw new InvalidDataException($"A FUSE request of {length} bytes is shorter than its 40-byte header.");
        }
        var declared = BinaryPrimitives.ReadUInt32LittleEndian(buffer);
        if (declared != length)
        {
            throw new InvalidDataException($"A FUSE request says it has {declared} bytes; {length} were read.");
        }
        Opcode = (FuseOpcode)BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(4));
        Unique = BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(8));
        NodeId = BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(16));
        Uid = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(24));
        Gid = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(28));
        Pid = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(32));
        Body = buffer.AsMemory(HeaderSize, length - HeaderSize);
    }

    public FuseOpcode Opcode { get; }
    public ulong Unique { get; }
    public ulong NodeId { get; }
    public uint Uid { get; }
    public uint Gid { get; }
    public uint Pid { get; }
    public ReadOnlyMemory<byte> Body { get; }

    public uint U32(int offset) => Check(offset, 4) ? BinaryPrimitives.ReadUInt32LittleEndian(Body.Span[offset..]) : 0;

    public ulong U64(int offset) => Check(offset, 8) ? BinaryPrimitives.ReadUInt64LittleEndian(Body.Span[offset..]) : 0;

    /// <summary>The NUL-terminated name at <paramref name="offset"/> of the body; <paramref name="next"/> is where the byte after its NUL is.</summary>
    public string Name(int offset, out int next)
    {
        var span = Body.Span;
        if (offset > span.Length)
        {
            throw new InvalidDataException($"FUSE {Opcode}: a name at {offset} past the {span.Length}-byte body.");
        }
        var nul = span[offset..].IndexOf((byte)0);
        if (nul < 0)
        {
            throw new InvalidDataException($"FUSE {Opcode}: a name without its NUL.");
        }
        next = offset + nul + 1;
        return Encoding.UTF8.GetString(span.Slice(offset, nul));
    }

    public string Name(int offset) => Name(offset, out _);

    private bool Check(int offset, int size) => offset + size <= Body.Length
        ? true
        : throw new InvalidDataException($"FUSE {Opcode}: a field at {offset} past the {Body.Length}-byte body.");
}

/// <summary>The attributes the kernel caches for an inode (struct fuse_attr, 88 bytes).</summary>
internal readonly record struct FuseAttr(ulong Ino, ulong Size, ulong Blocks, DateTimeOffset ATime, DateTimeOffset MTime, DateTimeOffset CTime,
    uint Mode, uint NLink, uint Uid, uint Gid)
{
    public const int Size88 = 88;

    public const uint S_IFDIR = 0x4000;
    public const uint S_IFREG = 0x8000;

    public bool IsDirectory => (Mode & 0xF000) == S_IFDIR;

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b, Ino);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], Size);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], Blocks);
        WriteTime(b, 24, 48, ATime);
        WriteTime(b, 32, 52, MTime);
        WriteTime(b, 40, 56, CTime);
        BinaryPrimitives.WriteUInt32LittleEndian(b[60..], Mode);
        BinaryPrimitives.WriteUInt32LittleEndian(b[64..], NLink);
        BinaryPrimitives.WriteUInt32LittleEndian(b[68..], Uid);
        BinaryPrimitives.WriteUInt32LittleEndian(b[72..], Gid);
        BinaryPrimitives.WriteUInt32LittleEndian(b[76..], 0); // rdev
        BinaryPrimitives.WriteUInt32LittleEndian(b[80..], 4096); // blksize
        BinaryPrimitives.WriteUInt32LittleEndian(b[84..], 0); // flags
    }

    private static void WriteTime(Span<byte> b, int seconds, int nanoseconds, DateTimeOffset time)
    {
        var ticks = Math.Max(0, time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks);
        BinaryPrimitives.WriteUInt64LittleEndian(b[seconds..], (ulong)(ticks / TimeSpan.TicksPerSecond));
        BinaryPrimitives.WriteUInt32LittleEndian(b[nanoseconds..], (uint)(ticks % TimeSpan.TicksPerSecond * 100));
    }
}

/// <summary>Reply bodies (little-endian, the layouts of linux/fuse.h).</summary>
internal static class FuseReply
{
    public const int OutHeaderSize = 16;
    public const int EntryOutSize = 40 + FuseAttr.Size88;
    public const int AttrOutSize = 16 + FuseAttr.Size88;
    public const int OpenOutSize = 16;
    public const int DirentHeaderSize = 24;

    /// <summary>fuse_entry_out: the node, how long the name and attributes may be cached, the attributes.</summary>
    public static void WriteEntry(Span<byte> b, ulong nodeId, FuseAttr attr, TimeSpan valid)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b, nodeId);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], 0); // generation
        WriteValid(b[16..], b[32..], valid); // entry_valid
        WriteValid(b[24..], b[36..], valid); // attr_valid
        attr.Write(b[40..]);
    }

    public static void WriteAttrOut(Span<byte> b, FuseAttr attr, TimeSpan valid)
    {
        WriteValid(b, b[8..], valid);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], 0);
        attr.Write(b[16..]);
    }

    public static void WriteOpenOut(Span<byte> b, ulong fh, uint openFlags)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b, fh);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], openFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], 0);
    }

    private static void WriteValid(Span<byte> seconds, Span<byte> nanoseconds, TimeSpan valid)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(seconds, (ulong)(valid.Ticks / TimeSpan.TicksPerSecond));
        BinaryPrimitives.WriteUInt32LittleEndian(nanoseconds, (uint)(valid.Ticks % TimeSpan.TicksPerSecond * 100));
    }

    /// <summary>The size of a fuse_dirent for <paramref name="nameBytes"/> bytes of name, padded to 8.</summary>
    public static int DirentSize(int nameBytes) => (DirentHeaderSize + nameBytes + 7) & ~7;

    /// <summary>fuse_dirent: ino, the offset of the next entry, the name's length and type (DT_DIR 4, DT_REG 8), the name.</summary>
    public static int WriteDirent(Span<byte> b, ulong ino, ulong nextOffset, ReadOnlySpan<byte> name, bool directory)
    {
        var size = DirentSize(name.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(b, ino);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], nextOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(b[16..], (uint)name.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(b[20..], directory ? 4u : 8u);
        name.CopyTo(b[DirentHeaderSize..]);
        b[(DirentHeaderSize + name.Length)..size].Clear();
        return size;
    }
}
