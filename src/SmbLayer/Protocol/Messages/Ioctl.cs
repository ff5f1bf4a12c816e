using System.Buffers.Binary;

namespace SmbLayer.Protocol;

/// <summary>SMB2 IOCTL request (MS-SMB2 §2.2.31).</summary>
internal sealed class IoctlRequest : ISmb2Request
{
    public const ushort StructureSizeValue = 57;
    private const int FixedSize = 56;
    private const int OffCtlCode = 4;
    private const int OffFileId = 8;
    private const int OffInputOffset = 24;
    private const int OffInputCount = 28;
    private const int OffMaxInputResponse = 32;
    private const int OffOutputOffset = 36;
    private const int OffOutputCount = 40;
    private const int OffMaxOutputResponse = 44;
    private const int OffFlags = 48;
    private const int InputPosition = FixedSize;

    public const uint FsctlValidateNegotiateInfo = 0x00140204;
    public const uint FsctlPipeTransceive = 0x0011C017;
    public const uint FsctlDfsGetReferrals = 0x00060194;

    /// <summary>FileId for IOCTLs not bound to an open (e.g. VALIDATE_NEGOTIATE_INFO): all ones.</summary>
    public static readonly Smb2FileId NoFile = new(ulong.MaxValue, ulong.MaxValue);

    public IoctlRequest(uint ctlCode, Smb2FileId fileId, ReadOnlyMemory<byte> input, int maxOutputResponse)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxOutputResponse);
        CtlCode = ctlCode;
        FileId = fileId;
        Input = input;
        MaxOutputResponse = maxOutputResponse;
    }

    /// <summary>FSCTL_VALIDATE_NEGOTIATE_INFO (MS-SMB2 §2.2.31.4) with the values sent in NEGOTIATE.</summary>
    public static IoctlRequest ValidateNegotiateInfo(GlobalCapabilities capabilities, Guid clientGuid, SecurityMode securityMode,
        IReadOnlyList<SmbDialect> dialects) =>
        new(FsctlValidateNegotiateInfo, NoFile,
            ValidateNegotiateInfoCodec.BuildRequest(capabilities, clientGuid, securityMode, dialects),
            ValidateNegotiateInfoCodec.ResponseSize);

    public Smb2Command Command => Smb2Command.Ioctl;
    public uint CtlCode { get; }
    public Smb2FileId FileId { get; }
    public ReadOnlyMemory<byte> Input { get; }
    public int MaxOutputResponse { get; }
    public IoctlFlags Flags { get; init; } = IoctlFlags.IsFsctl;

    /// <summary>StructureSize 57 counts one Buffer byte, written even without input.</summary>
    public int BodySize => FixedSize + Math.Max(1, Input.Length);
    public int PayloadSize => Math.Max(Input.Length, MaxOutputResponse);

    public void WriteBody(Span<byte> body)
    {
        body[..BodySize].Clear();
        Smb2Wire.WriteStructureSize(body, StructureSizeValue);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffCtlCode..], CtlCode);
        FileId.WriteTo(body[OffFileId..]);
        var inputOffset = Input.IsEmpty ? 0u : (uint)Smb2Wire.HeaderOffset(InputPosition);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffInputOffset..], inputOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffInputCount..], (uint)Input.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffMaxInputResponse..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffOutputOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffOutputCount..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffMaxOutputResponse..], (uint)MaxOutputResponse);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffFlags..], (uint)Flags);
        Input.Span.CopyTo(body[InputPosition..]);
    }
}

/// <summary>SMB2 IOCTL response (MS-SMB2 §2.2.32); input and output buffers are validated, not copied.</summary>
internal sealed class IoctlResponse
{
    public const ushort StructureSizeValue = 49;
    private const string Name = "IOCTL response";
    private const int FixedSize = 48;
    private const int OffCtlCode = 4;
    private const int OffFileId = 8;
    private const int OffInputOffset = 24;
    private const int OffInputCount = 28;
    private const int OffOutputOffset = 32;
    private const int OffOutputCount = 36;
    private const int OffFlags = 40;

    public uint CtlCode { get; private init; }
    public Smb2FileId FileId { get; private init; }
    public int InputOffset { get; private init; }
    public int InputCount { get; private init; }
    public int OutputOffset { get; private init; }
    public int OutputCount { get; private init; }
    public uint Flags { get; private init; }
    public Range InputRange => new(InputOffset, InputOffset + InputCount);
    public Range OutputRange => new(OutputOffset, OutputOffset + OutputCount);

    public static IoctlResponse Parse(ReadOnlySpan<byte> message)
    {
        var body = Smb2Wire.CheckBody(message, StructureSizeValue, FixedSize, Name);
        var minOffset = Smb2Wire.HeaderOffset(FixedSize);
        var (inputOffset, inputCount) = Smb2Wire.CheckBuffer(message,
            BinaryPrimitives.ReadUInt32LittleEndian(body[OffInputOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(body[OffInputCount..]), minOffset, Name, "Input")
            .GetOffsetAndLength(message.Length);
        var (outputOffset, outputCount) = Smb2Wire.CheckBuffer(message,
            BinaryPrimitives.ReadUInt32LittleEndian(body[OffOutputOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(body[OffOutputCount..]), minOffset, Name, "Output")
            .GetOffsetAndLength(message.Length);
        return new IoctlResponse
        {
            CtlCode = BinaryPrimitives.ReadUInt32LittleEndian(body[OffCtlCode..]),
            FileId = Smb2FileId.Read(body[OffFileId..]),
            InputOffset = inputOffset,
            InputCount = inputCount,
            OutputOffset = outputOffset,
            OutputCount = outputCount,
            Flags = BinaryPrimitives.ReadUInt32LittleEndian(body[OffFlags..]),
        };
    }
}

/// <summary>VALIDATE_NEGOTIATE_INFO response (MS-SMB2 §2.2.32.6).</summary>
internal readonly record struct ValidateNegotiateInfoResponse(
    GlobalCapabilities Capabilities, Guid ServerGuid, SecurityMode SecurityMode, SmbDialect Dialect);

/// <summary>FSCTL_VALIDATE_NEGOTIATE_INFO payloads (MS-SMB2 §2.2.31.4, §2.2.32.6).</summary>
internal static class ValidateNegotiateInfoCodec
{
    public const int ResponseSize = 24;
    private const string Name = "VALIDATE_NEGOTIATE_INFO response";
    private const int OffCapabilities = 0;
    private const int OffGuid = 4;
    private const int OffSecurityMode = 20;
    private const int OffDialectCount = 22; // request
    private const int OffDialect = 22;      // response
    private const int OffDialects = 24;     // request
    private const int DialectSize = 2;

    public static byte[] BuildRequest(GlobalCapabilities capabilities, Guid clientGuid, SecurityMode securityMode, IReadOnlyList<SmbDialect> dialects)
    {
        if (dialects.Count == 0)
        {
            throw new ArgumentException("VALIDATE_NEGOTIATE_INFO needs the dialects sent in NEGOTIATE.", nameof(dialects));
        }
        Smb2Wire.CheckFits(dialects.Count, ushort.MaxValue, "VALIDATE_NEGOTIATE_INFO", nameof(dialects));
        var buffer = new byte[OffDialects + (dialects.Count * DialectSize)];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(OffCapabilities), (uint)capabilities);
        Smb2Wire.WriteGuid(clientGuid, buffer.AsSpan(OffGuid));
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(OffSecurityMode), (ushort)securityMode);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(OffDialectCount), (ushort)dialects.Count);
        for (var i = 0; i < dialects.Count; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(OffDialects + (i * DialectSize)), (ushort)dialects[i]);
        }
        return buffer;
    }

    /// <summary>Parses the IOCTL output buffer.</summary>
    public static ValidateNegotiateInfoResponse ParseResponse(ReadOnlySpan<byte> output)
    {
        if (output.Length < ResponseSize)
        {
            throw new SmbProtocolException($"{Name} is {output.Length} bytes, need {ResponseSize}.");
        }
        return new ValidateNegotiateInfoResponse(
            (GlobalCapabilities)BinaryPrimitives.ReadUInt32LittleEndian(output[OffCapabilities..]),
            Smb2Wire.ReadGuid(output[OffGuid..]),
            (SecurityMode)BinaryPrimitives.ReadUInt16LittleEndian(output[OffSecurityMode..]),
            (SmbDialect)BinaryPrimitives.ReadUInt16LittleEndian(output[OffDialect..]));
    }
}
