using System.Buffers.Binary;

namespace SmbLayer.Protocol;

/// <summary>SMB2 CLOSE request (MS-SMB2 §2.2.15).</summary>
internal sealed class CloseRequest : ISmb2Request
{
    public const ushort StructureSizeValue = 24;
    private const int Size = 24;
    private const int OffFlags = 2;
    private const int OffFileId = 8;

    public CloseRequest(Smb2FileId fileId) => FileId = fileId;

    public Smb2Command Command => Smb2Command.Close;
    public Smb2FileId FileId { get; }
    /// <summary>Set <see cref="CloseFlags.PostQueryAttributes"/> to get times, sizes and attributes back.</summary>
    public CloseFlags Flags { get; init; }
    public int BodySize => Size;
    public int PayloadSize => 0;

    public void WriteBody(Span<byte> body)
    {
        body[..Size].Clear();
        Smb2Wire.WriteStructureSize(body, StructureSizeValue);
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffFlags..], (ushort)Flags);
        FileId.WriteTo(body[OffFileId..]);
    }
}

/// <summary>SMB2 CLOSE response (MS-SMB2 §2.2.16). The attribute fields are 0 unless PostQueryAttributes was asked for and granted.</summary>
internal sealed class CloseResponse
{
    public const ushort StructureSizeValue = 60;
    private const string Name = "CLOSE response";
    private const int FixedSize = 60;
    private const int OffFlags = 2;
    private const int OffCreationTime = 8;
    private const int OffLastAccessTime = 16;
    private const int OffLastWriteTime = 24;
    private const int OffChangeTime = 32;
    private const int OffAllocationSize = 40;
    private const int OffEndOfFile = 48;
    private const int OffFileAttributes = 56;

    public CloseFlags Flags { get; private init; }
    public ulong CreationTime { get; private init; }
    public ulong LastAccessTime { get; private init; }
    public ulong LastWriteTime { get; private init; }
    public ulong ChangeTime { get; private init; }
    public long AllocationSize { get; private init; }
    public long EndOfFile { get; private init; }
    public FileAttributes FileAttributes { get; private init; }

    public bool HasAttributes => (Flags & CloseFlags.PostQueryAttributes) != 0;

    public static CloseResponse Parse(ReadOnlySpan<byte> message)
    {
        var body = Smb2Wire.CheckBody(message, StructureSizeValue, FixedSize, Name);
        return new CloseResponse
        {
            Flags = (CloseFlags)BinaryPrimitives.ReadUInt16LittleEndian(body[OffFlags..]),
            CreationTime = BinaryPrimitives.ReadUInt64LittleEndian(body[OffCreationTime..]),
            LastAccessTime = BinaryPrimitives.ReadUInt64LittleEndian(body[OffLastAccessTime..]),
            LastWriteTime = BinaryPrimitives.ReadUInt64LittleEndian(body[OffLastWriteTime..]),
            ChangeTime = BinaryPrimitives.ReadUInt64LittleEndian(body[OffChangeTime..]),
            AllocationSize = BinaryPrimitives.ReadInt64LittleEndian(body[OffAllocationSize..]),
            EndOfFile = BinaryPrimitives.ReadInt64LittleEndian(body[OffEndOfFile..]),
            FileAttributes = (FileAttributes)BinaryPrimitives.ReadUInt32LittleEndian(body[OffFileAttributes..]),
        };
    }
}

/// <summary>SMB2 FLUSH request (MS-SMB2 §2.2.17).</summary>
internal sealed class FlushRequest : ISmb2Request
{
    public const ushort StructureSizeValue = 24;
    private const int Size = 24;
    private const int OffFileId = 8;

    public FlushRequest(Smb2FileId fileId) => FileId = fileId;

    public Smb2Command Command => Smb2Command.Flush;
    public Smb2FileId FileId { get; }
    public int BodySize => Size;
    public int PayloadSize => 0;

    public void WriteBody(Span<byte> body)
    {
        body[..Size].Clear();
        Smb2Wire.WriteStructureSize(body, StructureSizeValue);
        FileId.WriteTo(body[OffFileId..]);
    }
}

/// <summary>SMB2 FLUSH response (MS-SMB2 §2.2.18).</summary>
internal sealed class FlushResponse
{
    public static readonly FlushResponse Instance = new();

    public static FlushResponse Parse(ReadOnlySpan<byte> message)
    {
        EmptyBody.Check(message, "FLUSH response");
        return Instance;
    }
}
