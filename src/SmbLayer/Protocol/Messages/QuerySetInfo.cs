using System.Buffers.Binary;

namespace SmbLayer.Protocol;

/// <summary>SMB2 QUERY_INFO request (MS-SMB2 §2.2.37).</summary>
internal sealed class QueryInfoRequest : ISmb2Request
{
    public const ushort StructureSizeValue = 41;
    private const int FixedSize = 40;
    private const int OffInfoType = 2;
    private const int OffFileInfoClass = 3;
    private const int OffOutputBufferLength = 4;
    private const int OffInputBufferOffset = 8;
    private const int OffInputBufferLength = 12;
    private const int OffAdditionalInformation = 16;
    private const int OffFlags = 20;
    private const int OffFileId = 24;
    private const int InputPosition = FixedSize;

    /// <param name="infoClass">A <see cref="FileInformationClass"/> or <see cref="FsInformationClass"/> value; 0 for security.</param>
    public QueryInfoRequest(Smb2FileId fileId, InfoType infoType, byte infoClass, int outputBufferLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(outputBufferLength);
        FileId = fileId;
        InfoType = infoType;
        FileInfoClass = infoClass;
        OutputBufferLength = outputBufferLength;
    }

    public static QueryInfoRequest ForFile(Smb2FileId fileId, FileInformationClass infoClass, int outputBufferLength) =>
        new(fileId, InfoType.File, (byte)infoClass, outputBufferLength);

    public static QueryInfoRequest ForFileSystem(Smb2FileId fileId, FsInformationClass infoClass, int outputBufferLength) =>
        new(fileId, InfoType.FileSystem, (byte)infoClass, outputBufferLength);

    public static QueryInfoRequest ForSecurity(Smb2FileId fileId, SecurityInformation parts, int outputBufferLength) =>
        new(fileId, InfoType.Security, 0, outputBufferLength) { AdditionalInformation = (uint)parts };

    public Smb2Command Command => Smb2Command.QueryInfo;
    public Smb2FileId FileId { get; }
    public InfoType InfoType { get; }
    public byte FileInfoClass { get; }
    public int OutputBufferLength { get; }
    public uint AdditionalInformation { get; init; }
    public QueryInfoFlags Flags { get; init; }
    /// <summary>Optional input (e.g. an EA name list for FileFullEaInformation, or quota SIDs).</summary>
    public ReadOnlyMemory<byte> InputBuffer { get; init; }

    /// <summary>StructureSize 41 counts one Buffer byte, written even without input.</summary>
    public int BodySize => FixedSize + Math.Max(1, InputBuffer.Length);
    public int PayloadSize => Math.Max(InputBuffer.Length, OutputBufferLength);

    public void WriteBody(Span<byte> body)
    {
        body[..BodySize].Clear();
        Smb2Wire.WriteStructureSize(body, StructureSizeValue);
        body[OffInfoType] = (byte)InfoType;
        body[OffFileInfoClass] = FileInfoClass;
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffOutputBufferLength..], (uint)OutputBufferLength);
        var hasInput = !InputBuffer.IsEmpty;
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffInputBufferOffset..], hasInput ? (ushort)Smb2Wire.HeaderOffset(InputPosition) : (ushort)0);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffInputBufferLength..], (uint)InputBuffer.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffAdditionalInformation..], AdditionalInformation);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffFlags..], (uint)Flags);
        FileId.WriteTo(body[OffFileId..]);
        InputBuffer.Span.CopyTo(body[InputPosition..]);
    }
}

/// <summary>SMB2 QUERY_INFO response (MS-SMB2 §2.2.38); the output buffer is validated, not copied.</summary>
internal sealed class QueryInfoResponse
{
    public const ushort StructureSizeValue = 9;
    private const string Name = "QUERY_INFO response";
    private const int FixedSize = 8;
    private const int OffOutputBufferOffset = 2;
    private const int OffOutputBufferLength = 4;

    public int OutputBufferOffset { get; private init; }
    public int OutputBufferLength { get; private init; }
    public Range OutputBufferRange => new(OutputBufferOffset, OutputBufferOffset + OutputBufferLength);

    public static QueryInfoResponse Parse(ReadOnlySpan<byte> message)
    {
        var (offset, length) = OutputBuffer.Parse(message, StructureSizeValue, FixedSize, OffOutputBufferOffset, OffOutputBufferLength, Name);
        return new QueryInfoResponse { OutputBufferOffset = offset, OutputBufferLength = length };
    }
}

/// <summary>SMB2 SET_INFO request (MS-SMB2 §2.2.39).</summary>
internal sealed class SetInfoRequest : ISmb2Request
{
    public const ushort StructureSizeValue = 33;
    private const int FixedSize = 32;
    private const int OffInfoType = 2;
    private const int OffFileInfoClass = 3;
    private const int OffBufferLength = 4;
    private const int OffBufferOffset = 8;
    private const int OffAdditionalInformation = 12;
    private const int OffFileId = 16;
    private const int BufferPosition = FixedSize;

    public SetInfoRequest(Smb2FileId fileId, InfoType infoType, byte infoClass, ReadOnlyMemory<byte> buffer)
    {
        FileId = fileId;
        InfoType = infoType;
        FileInfoClass = infoClass;
        Buffer = buffer;
    }

    /// <summary>SET_INFO for a file information class (e.g. with a buffer from the FileInfo codecs).</summary>
    public static SetInfoRequest ForFile(Smb2FileId fileId, FileInformationClass infoClass, ReadOnlyMemory<byte> buffer) =>
        new(fileId, InfoType.File, (byte)infoClass, buffer);

    public Smb2Command Command => Smb2Command.SetInfo;
    public Smb2FileId FileId { get; }
    public InfoType InfoType { get; }
    public byte FileInfoClass { get; }
    public ReadOnlyMemory<byte> Buffer { get; }
    public uint AdditionalInformation { get; init; }

    public int BodySize => FixedSize + Math.Max(1, Buffer.Length);
    public int PayloadSize => Buffer.Length;

    public void WriteBody(Span<byte> body)
    {
        body[..BodySize].Clear();
        Smb2Wire.WriteStructureSize(body, StructureSizeValue);
        body[OffInfoType] = (byte)InfoType;
        body[OffFileInfoClass] = FileInfoClass;
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffBufferLength..], (uint)Buffer.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffBufferOffset..], (ushort)Smb2Wire.HeaderOffset(BufferPosition));
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffAdditionalInformation..], AdditionalInformation);
        FileId.WriteTo(body[OffFileId..]);
        Buffer.Span.CopyTo(body[BufferPosition..]);
    }
}

/// <summary>SMB2 SET_INFO response (MS-SMB2 §2.2.40): StructureSize 2, nothing else.</summary>
internal sealed class SetInfoResponse
{
    public const ushort StructureSizeValue = 2;
    private const int FixedSize = 2;
    public static readonly SetInfoResponse Instance = new();

    public static SetInfoResponse Parse(ReadOnlySpan<byte> message)
    {
        Smb2Wire.CheckBody(message, StructureSizeValue, FixedSize, "SET_INFO response");
        return Instance;
    }
}
