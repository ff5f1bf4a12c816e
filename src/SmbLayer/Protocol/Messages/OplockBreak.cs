using System.Buffers.Binary;

namespace SmbLayer.Protocol;

/// <summary>
/// A message received with command OPLOCK_BREAK (MS-SMB2 §2.2.23, §2.2.25). The body's
/// StructureSize tells the kind: 24 = oplock break (notification or response to an ack),
/// 44 = lease break notification, 36 = lease break response. An unsolicited notification has
/// MessageId 0xFFFFFFFFFFFFFFFF in the header.
/// </summary>
internal abstract class OplockBreakMessage
{
    private const string Name = "OPLOCK_BREAK";

    public static OplockBreakMessage Parse(ReadOnlySpan<byte> message)
    {
        if (message.Length < Smb2Header.Size + Smb2Wire.StructureSizeLength)
        {
            throw new SmbProtocolException($"{Name} message truncated: {message.Length} bytes.");
        }
        var structureSize = BinaryPrimitives.ReadUInt16LittleEndian(message[Smb2Header.Size..]);
        return structureSize switch
        {
            OplockBreak.StructureSizeValue => OplockBreak.Parse(message),
            LeaseBreakNotification.StructureSizeValue => LeaseBreakNotification.Parse(message),
            LeaseBreakResponse.StructureSizeValue => LeaseBreakResponse.Parse(message),
            _ => throw new SmbProtocolException(
                $"{Name} StructureSize {structureSize} is none of {OplockBreak.StructureSizeValue}, {LeaseBreakNotification.StructureSizeValue}, {LeaseBreakResponse.StructureSizeValue}."),
        };
    }
}

/// <summary>Oplock break notification / response (MS-SMB2 §2.2.23.1, §2.2.25.1): OplockLevel and FileId.</summary>
internal sealed class OplockBreak : OplockBreakMessage
{
    public const ushort StructureSizeValue = 24;
    private const int Size = 24;
    private const int OffOplockLevel = 2;
    private const int OffFileId = 8;

    public OplockLevel OplockLevel { get; private init; }
    public Smb2FileId FileId { get; private init; }

    public static new OplockBreak Parse(ReadOnlySpan<byte> message)
    {
        var body = Smb2Wire.CheckBody(message, StructureSizeValue, Size, "Oplock break");
        return new OplockBreak
        {
            OplockLevel = (OplockLevel)body[OffOplockLevel],
            FileId = Smb2FileId.Read(body[OffFileId..]),
        };
    }

    /// <summary>Writes the 24-byte oplock break acknowledgment body (§2.2.24.1); shares this layout.</summary>
    internal static void WriteAcknowledgment(Span<byte> body, OplockLevel level, Smb2FileId fileId)
    {
        body[..Size].Clear();
        Smb2Wire.WriteStructureSize(body, StructureSizeValue);
        body[OffOplockLevel] = (byte)level;
        fileId.WriteTo(body[OffFileId..]);
    }

    internal const int AcknowledgmentSize = Size;
}

/// <summary>Lease break notification (MS-SMB2 §2.2.23.2).</summary>
internal sealed class LeaseBreakNotification : OplockBreakMessage
{
    public const ushort StructureSizeValue = 44;
    private const int Size = 44;
    private const int OffNewEpoch = 2;
    private const int OffFlags = 4;
    private const int OffLeaseKey = 8;
    private const int OffCurrentLeaseState = 24;
    private const int OffNewLeaseState = 28;
    private const int OffBreakReason = 32;
    private const int OffAccessMaskHint = 36;
    private const int OffShareMaskHint = 40;

    public ushort NewEpoch { get; private init; }
    public LeaseBreakFlags Flags { get; private init; }
    public Guid LeaseKey { get; private init; }
    public LeaseState CurrentLeaseState { get; private init; }
    public LeaseState NewLeaseState { get; private init; }
    public uint BreakReason { get; private init; }
    public uint AccessMaskHint { get; private init; }
    public uint ShareMaskHint { get; private init; }

    /// <summary>The client must send a lease break acknowledgment.</summary>
    public bool AckRequired => (Flags & LeaseBreakFlags.AckRequired) != 0;

    public static new LeaseBreakNotification Parse(ReadOnlySpan<byte> message)
    {
        var body = Smb2Wire.CheckBody(message, StructureSizeValue, Size, "Lease break notification");
        return new LeaseBreakNotification
        {
            NewEpoch = BinaryPrimitives.ReadUInt16LittleEndian(body[OffNewEpoch..]),
            Flags = (LeaseBreakFlags)BinaryPrimitives.ReadUInt32LittleEndian(body[OffFlags..]),
            LeaseKey = Smb2Wire.ReadGuid(body[OffLeaseKey..]),
            CurrentLeaseState = (LeaseState)BinaryPrimitives.ReadUInt32LittleEndian(body[OffCurrentLeaseState..]),
            NewLeaseState = (LeaseState)BinaryPrimitives.ReadUInt32LittleEndian(body[OffNewLeaseState..]),
            BreakReason = BinaryPrimitives.ReadUInt32LittleEndian(body[OffBreakReason..]),
            AccessMaskHint = BinaryPrimitives.ReadUInt32LittleEndian(body[OffAccessMaskHint..]),
            ShareMaskHint = BinaryPrimitives.ReadUInt32LittleEndian(body[OffShareMaskHint..]),
        };
    }
}

/// <summary>Lease break response (MS-SMB2 §2.2.25.2); same 36-byte layout as the acknowledgment.</summary>
internal sealed class LeaseBreakResponse : OplockBreakMessage
{
    public const ushort StructureSizeValue = 36;
    internal const int Size = 36;
    internal const int OffFlags = 4;
    internal const int OffLeaseKey = 8;
    internal const int OffLeaseState = 24;
    internal const int OffLeaseDuration = 28;

    public uint Flags { get; private init; }
    public Guid LeaseKey { get; private init; }
    public LeaseState LeaseState { get; private init; }

    public static new LeaseBreakResponse Parse(ReadOnlySpan<byte> message)
    {
        var body = Smb2Wire.CheckBody(message, StructureSizeValue, Size, "Lease break response");
        return new LeaseBreakResponse
        {
            Flags = BinaryPrimitives.ReadUInt32LittleEndian(body[OffFlags..]),
            LeaseKey = Smb2Wire.ReadGuid(body[OffLeaseKey..]),
            LeaseState = (LeaseState)BinaryPrimitives.ReadUInt32LittleEndian(body[OffLeaseState..]),
        };
    }
}

/// <summary>Oplock break acknowledgment (MS-SMB2 §2.2.24.1): the level the client drops to.</summary>
internal sealed class OplockBreakAcknowledgment : ISmb2Request
{
    public OplockBreakAcknowledgment(Smb2FileId fileId, OplockLevel oplockLevel)
    {
        FileId = fileId;
        OplockLevel = oplockLevel;
    }

    public Smb2Command Command => Smb2Command.OplockBreak;
    public Smb2FileId FileId { get; }
    public OplockLevel OplockLevel { get; }
    public int BodySize => OplockBreak.AcknowledgmentSize;
    public int PayloadSize => 0;

    public void WriteBody(Span<byte> body) => OplockBreak.WriteAcknowledgment(body, OplockLevel, FileId);
}

/// <summary>Lease break acknowledgment (MS-SMB2 §2.2.24.2): the lease key and the state the client accepts.</summary>
internal sealed class LeaseBreakAcknowledgment : ISmb2Request
{
    public LeaseBreakAcknowledgment(Guid leaseKey, LeaseState leaseState)
    {
        LeaseKey = leaseKey;
        LeaseState = leaseState;
    }

    public Smb2Command Command => Smb2Command.OplockBreak;
    public Guid LeaseKey { get; }
    public LeaseState LeaseState { get; }
    public int BodySize => LeaseBreakResponse.Size;
    public int PayloadSize => 0;

    public void WriteBody(Span<byte> body)
    {
        body[..LeaseBreakResponse.Size].Clear();
        Smb2Wire.WriteStructureSize(body, LeaseBreakResponse.StructureSizeValue);
        BinaryPrimitives.WriteUInt32LittleEndian(body[LeaseBreakResponse.OffFlags..], 0);
        Smb2Wire.WriteGuid(LeaseKey, body[LeaseBreakResponse.OffLeaseKey..]);
        BinaryPrimitives.WriteUInt32LittleEndian(body[LeaseBreakResponse.OffLeaseState..], (uint)LeaseState);
        BinaryPrimitives.WriteUInt64LittleEndian(body[LeaseBreakResponse.OffLeaseDuration..], 0);
    }
}
