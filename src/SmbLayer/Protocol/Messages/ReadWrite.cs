using System.Buffers.Binary;

namespace SmbLayer.Protocol;

/// <summary>SMB2 READ request (MS-SMB2 §2.2.19).</summary>
internal sealed class ReadRequest : ISmb2Request
{
    public const ushort StructureSizeValue = 49;
    private const int FixedSize = 48;
    /// <summary>StructureSize counts one byte of Buffer, which must be present even when empty.</summary>
    private const int Size = FixedSize + 1;
    private const int OffPadding = 2;
    private const int OffFlags = 3;
    private const int OffLength = 4;
    private const int OffOffset = 8;
    private const int OffFileId = 16;
    private const int OffMinimumCount = 32;
    private const int OffChannel = 36;
    private const int OffRemainingBytes = 40;
    private const int OffReadChannelInfoOffset = 44;
    private const int OffReadChannelInfoLength = 46;

    /// <summary>Header + READ response fixed part (16 bytes): where servers usually put the data.</summary>
    public const byte DefaultPadding = 0x50;

    public ReadRequest(Smb2FileId fileId, long offset, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        FileId = fileId;
        Offset = offset;
        Length = length;
    }

    public Smb2Command Command => Smb2Command.Read;
    public Smb2FileId FileId { get; }
    public long Offset { get; }
    public int Length { get; }
    public int MinimumCount { get; init; }
    /// <summary>Requested offset of the data in the response.</summary>
    public byte Padding { get; init; } = DefaultPadding;
    public int BodySize => Size;
    public int PayloadSize => Length;

    public void WriteBody(Span<byte> body)
    {
        body[..Size].Clear();
        Smb2Wire.WriteStructureSize(body, StructureSizeValue);
        body[OffPadding] = Padding;
        body[OffFlags] = 0;
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffLength..], (uint)Length);
        BinaryPrimitives.WriteUInt64LittleEndian(body[OffOffset..], (ulong)Offset);
        FileId.WriteTo(body[OffFileId..]);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffMinimumCount..], (uint)MinimumCount);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffChannel..], 0); // SMB2_CHANNEL_NONE
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffRemainingBytes..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffReadChannelInfoOffset..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffReadChannelInfoLength..], 0);
    }
}

/// <summary>
/// SMB2 READ response (MS-SMB2 §2.2.20). The data is not copied: slice the message with
/// <see cref="DataOffset"/> / <see cref="DataLength"/>, which are validated against it.
/// </summary>
internal sealed class ReadResponse
{
    public const ushort StructureSizeValue = 17;
    private const string Name = "READ response";
    private const int FixedSize = 16;
    private const int OffDataOffset = 2;
    private const int OffDataLength = 4;
    private const int OffDataRemaining = 8;

    /// <summary>Header-relative offset of the data (0 when <see cref="DataLength"/> is 0).</summary>
    public int DataOffset { get; private init; }
    public int DataLength { get; private init; }
    public uint DataRemaining { get; private init; }

    public Range DataRange => new(DataOffset, DataOffset + DataLength);

    public static ReadResponse Parse(ReadOnlySpan<byte> message)
    {
        var body = Smb2Wire.CheckBody(message, StructureSizeValue, FixedSize, Name);
        var range = Smb2Wire.CheckBuffer(message, body[OffDataOffset],
            BinaryPrimitives.ReadUInt32LittleEndian(body[OffDataLength..]),
            Smb2Wire.HeaderOffset(FixedSize), Name, "Data");
        var (start, length) = range.GetOffsetAndLength(message.Length);
        return new ReadResponse
        {
            DataOffset = start,
            DataLength = length,
            DataRemaining = BinaryPrimitives.ReadUInt32LittleEndian(body[OffDataRemaining..]),
        };
    }

    /// <summary>Header plus fixed body: the bytes <see cref="TryGetDataLayout"/> needs to see.</summary>
    public const int PrefixSize = Smb2Header.Size + FixedSize;

    /// <summary>
    /// From the first bytes of a READ response of <paramref name="messageLength"/> bytes (the whole
    /// message not yet received): where its data starts and how long it is, when the data runs to the
    /// end of the message and its start lies within <paramref name="prefix"/>. False for anything else
    /// (the message is then parsed whole by <see cref="Parse"/>, which explains what is wrong).
    /// </summary>
    public static bool TryGetDataLayout(ReadOnlySpan<byte> prefix, int messageLength, out int dataOffset, out int dataLength)
    {
        dataOffset = dataLength = 0;
        if (prefix.Length < PrefixSize
            || BinaryPrimitives.ReadUInt16LittleEndian(prefix[Smb2Header.Size..]) != StructureSizeValue)
        {
            return false;
        }
        var body = prefix[Smb2Header.Size..];
        int offset = body[OffDataOffset];
        var length = BinaryPrimitives.ReadUInt32LittleEndian(body[OffDataLength..]);
        if (offset < PrefixSize || offset > prefix.Length || length == 0 || length != (uint)(messageLength - offset))
        {
            return false;
        }
        dataOffset = offset;
        dataLength = (int)length;
        return true;
    }
}

/// <summary>SMB2 WRITE request (MS-SMB2 §2.2.21); the data follows the fixed part at offset 0x70.</summary>
internal sealed class WriteRequest : ISmb2Request, ISmb2PayloadRequest
{
    public const ushort StructureSizeValue = 49;
    private const int FixedSize = 48;
    private const int OffDataOffset = 2;
    private const int OffLength = 4;
    private const int OffOffset = 8;
    private const int OffFileId = 16;
    private const int OffChannel = 32;
    private const int OffRemainingBytes = 36;
    private const int OffWriteChannelInfoOffset = 40;
    private const int OffWriteChannelInfoLength = 42;
    private const int OffFlags = 44;
    private const int DataPosition = FixedSize;

    /// <summary>Header-relative offset of the data: 64 + 48 = 0x70.</summary>
    public const int DataOffset = Smb2Header.Size + DataPosition;

    public WriteRequest(Smb2FileId fileId, long offset, ReadOnlyMemory<byte> data)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        FileId = fileId;
        Offset = offset;
        Data = data;
    }

    /// <summary>A WRITE whose data is read from a local file when it is sent (<see cref="ExternalPayload"/>).</summary>
    public WriteRequest(Smb2FileId fileId, long offset, ExternalPayload data)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfLessThan(data.Length, 1);
        FileId = fileId;
        Offset = offset;
        External = data;
    }

    public Smb2Command Command => Smb2Command.Write;
    public Smb2FileId FileId { get; }
    public long Offset { get; }
    public ReadOnlyMemory<byte> Data { get; }
    /// <summary>SMB2_WRITEFLAG_WRITE_THROUGH (1) / WRITE_UNBUFFERED (2).</summary>
    public uint Flags { get; init; }

    /// <summary>The data, when it is in a local file rather than in <see cref="Data"/>.</summary>
    public ExternalPayload? External { get; }

    /// <summary>Bytes of data, wherever they are.</summary>
    public int Length => External?.Length ?? Data.Length;

    /// <summary>StructureSize counts one Buffer byte, so an empty write still sends one (zero) byte.</summary>
    public int BodySize => FixedSize + Math.Max(1, Length);
    public int PayloadSize => Length;

    public int FixedPartSize => FixedSize;

    public ReadOnlyMemory<byte> Payload => Data;

    public ExternalPayload? PayloadSource => External;

    public void WriteBody(Span<byte> body)
    {
        WriteFixedPart(body);
        if (External is not null)
        {
            External.ReadInto(body.Slice(DataPosition, External.Length));
        }
        else if (Data.IsEmpty)
        {
            body[DataPosition] = 0;
        }
        else
        {
            Data.Span.CopyTo(body[DataPosition..]);
        }
    }

    public void WriteFixedPart(Span<byte> body)
    {
        body[..FixedSize].Clear();
        Smb2Wire.WriteStructureSize(body, StructureSizeValue);
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffDataOffset..], DataOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffLength..], (uint)Length);
        BinaryPrimitives.WriteUInt64LittleEndian(body[OffOffset..], (ulong)Offset);
        FileId.WriteTo(body[OffFileId..]);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffChannel..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffRemainingBytes..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffWriteChannelInfoOffset..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffWriteChannelInfoLength..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffFlags..], Flags);
    }
}

/// <summary>SMB2 WRITE response (MS-SMB2 §2.2.22).</summary>
internal sealed class WriteResponse
{
    public const ushort StructureSizeValue = 17;
    private const string Name = "WRITE response";
    private const int FixedSize = 16;
    private const int OffCount = 4;
    private const int OffRemaining = 8;

    /// <summary>Bytes written.</summary>
    public uint Count { get; private init; }
    public uint Remaining { get; private init; }

    public static WriteResponse Parse(ReadOnlySpan<byte> message)
    {
        var body = Smb2Wire.CheckBody(message, StructureSizeValue, FixedSize, Name);
        return new WriteResponse
        {
            Count = BinaryPrimitives.ReadUInt32LittleEndian(body[OffCount..]),
            Remaining = BinaryPrimitives.ReadUInt32LittleEndian(body[OffRemaining..]),
        };
    }
}
