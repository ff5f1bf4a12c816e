using System.Buffers.Binary;

namespace SmbLayer.Protocol;

/// <summary>SMB2 header flags (MS-SMB2 §2.2.1.2).</summary>
[Flags]
internal enum Smb2HeaderFlags : uint
{
    None = 0,
    ServerToRedir = 0x00000001,
    AsyncCommand = 0x00000002,
    RelatedOperations = 0x00000004,
    Signed = 0x00000008,
    PriorityMask = 0x00000070,
    DfsOperations = 0x10000000,
    ReplayOperation = 0x20000000,
}

/// <summary>
/// The 64-byte SMB2 header, sync and async forms (MS-SMB2 §2.2.1.1 / §2.2.1.2).
/// In the async form the 8 bytes at offset 32 are the AsyncId; in the sync form
/// they are Reserved(4) + TreeId(4).
/// </summary>
internal readonly struct Smb2Header
{
    public const int Size = 64;
    public const uint ProtocolId = 0x424D53FE; // 0xFE 'S' 'M' 'B' read little-endian
    public const int SignatureOffset = 48;
    public const int SignatureSize = 16;

    private const int OffProtocolId = 0;
    private const int OffStructureSize = 4;
    private const int OffCreditCharge = 6;
    private const int OffStatus = 8; // ChannelSequence(2)+Reserved(2) in requests of 3.x
    private const int OffCommand = 12;
    private const int OffCredits = 14;
    private const int OffFlags = 16;
    private const int OffNextCommand = 20;
    private const int OffMessageId = 24;
    private const int OffAsyncId = 32;
    private const int OffTreeId = 36;
    private const int OffSessionId = 40;
    private const ushort StructureSizeValue = 64;

    public ushort CreditCharge { get; init; }
    /// <summary>Status in responses; in 3.x requests the low 16 bits are the ChannelSequence.</summary>
    public uint Status { get; init; }
    public Smb2Command Command { get; init; }
    /// <summary>CreditRequest in requests, CreditResponse (granted) in responses.</summary>
    public ushort Credits { get; init; }
    public Smb2HeaderFlags Flags { get; init; }
    public uint NextCommand { get; init; }
    public ulong MessageId { get; init; }
    /// <summary>Valid when <see cref="Smb2HeaderFlags.AsyncCommand"/> is set.</summary>
    public ulong AsyncId { get; init; }
    /// <summary>Valid when <see cref="Smb2HeaderFlags.AsyncCommand"/> is not set.</summary>
    public uint TreeId { get; init; }
    public ulong SessionId { get; init; }

    public NtStatus NtStatus => (NtStatus)Status;
    public bool IsResponse => (Flags & Smb2HeaderFlags.ServerToRedir) != 0;
    public bool IsAsync => (Flags & Smb2HeaderFlags.AsyncCommand) != 0;
    public bool IsSigned => (Flags & Smb2HeaderFlags.Signed) != 0;

    /// <summary>True when the buffer starts with the SMB2 protocol id.</summary>
    public static bool HasSmb2ProtocolId(ReadOnlySpan<byte> source) =>
        source.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(source) == ProtocolId;

    /// <summary>Parses a header; throws <see cref="SmbProtocolException"/> on a malformed one.</summary>
    public static Smb2Header ReadFrom(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new SmbProtocolException($"SMB2 header truncated: {source.Length} bytes, need {Size}.");
        }
        if (BinaryPrimitives.ReadUInt32LittleEndian(source[OffProtocolId..]) != ProtocolId)
        {
            throw new SmbProtocolException($"Bad SMB2 protocol id 0x{BinaryPrimitives.ReadUInt32LittleEndian(source):X8}.");
        }
        var structureSize = BinaryPrimitives.ReadUInt16LittleEndian(source[OffStructureSize..]);
        if (structureSize != StructureSizeValue)
        {
            throw new SmbProtocolException($"Bad SMB2 header StructureSize {structureSize}, expected {StructureSizeValue}.");
        }
        var flags = (Smb2HeaderFlags)BinaryPrimitives.ReadUInt32LittleEndian(source[OffFlags..]);
        var isAsync = (flags & Smb2HeaderFlags.AsyncCommand) != 0;
        return new Smb2Header
        {
            CreditCharge = BinaryPrimitives.ReadUInt16LittleEndian(source[OffCreditCharge..]),
            Status = BinaryPrimitives.ReadUInt32LittleEndian(source[OffStatus..]),
            Command = (Smb2Command)BinaryPrimitives.ReadUInt16LittleEndian(source[OffCommand..]),
            Credits = BinaryPrimitives.ReadUInt16LittleEndian(source[OffCredits..]),
            Flags = flags,
            NextCommand = BinaryPrimitives.ReadUInt32LittleEndian(source[OffNextCommand..]),
            MessageId = BinaryPrimitives.ReadUInt64LittleEndian(source[OffMessageId..]),
            AsyncId = isAsync ? BinaryPrimitives.ReadUInt64LittleEndian(source[OffAsyncId..]) : 0,
            TreeId = isAsync ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(source[OffTreeId..]),
            SessionId = BinaryPrimitives.ReadUInt64LittleEndian(source[OffSessionId..]),
        };
    }

    /// <summary>Writes the header with a zero signature.</summary>
    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException("Destination too small for an SMB2 header.", nameof(destination));
        }
        BinaryPrimitives.WriteUInt32LittleEndian(destination[OffProtocolId..], ProtocolId);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[OffStructureSize..], StructureSizeValue);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[OffCreditCharge..], CreditCharge);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[OffStatus..], Status);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[OffCommand..], (ushort)Command);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[OffCredits..], Credits);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[OffFlags..], (uint)Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[OffNextCommand..], NextCommand);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[OffMessageId..], MessageId);
        if (IsAsync)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(destination[OffAsyncId..], AsyncId);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(destination[OffAsyncId..], 0);
            BinaryPrimitives.WriteUInt32LittleEndian(destination[OffTreeId..], TreeId);
        }
        BinaryPrimitives.WriteUInt64LittleEndian(destination[OffSessionId..], SessionId);
        destination.Slice(SignatureOffset, SignatureSize).Clear();
    }

    /// <summary>Reads only the NextCommand field of a header at the start of <paramref name="source"/>.</summary>
    public static uint ReadNextCommand(ReadOnlySpan<byte> source) =>
        BinaryPrimitives.ReadUInt32LittleEndian(source[OffNextCommand..]);

    /// <summary>Sets the Signed flag in a serialized header.</summary>
    public static void SetSignedFlag(Span<byte> header)
    {
        var flags = BinaryPrimitives.ReadUInt32LittleEndian(header[OffFlags..]);
        BinaryPrimitives.WriteUInt32LittleEndian(header[OffFlags..], flags | (uint)Smb2HeaderFlags.Signed);
    }

    /// <summary>Sets NextCommand in a serialized header (compounding).</summary>
    public static void WriteNextCommand(Span<byte> header, uint nextCommand) =>
        BinaryPrimitives.WriteUInt32LittleEndian(header[OffNextCommand..], nextCommand);
}
