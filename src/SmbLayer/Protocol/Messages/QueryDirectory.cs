using System.Buffers.Binary;

namespace SmbLayer.Protocol;

/// <summary>SMB2 QUERY_DIRECTORY request (MS-SMB2 §2.2.33).</summary>
internal sealed class QueryDirectoryRequest : ISmb2Request
{
    public const ushort StructureSizeValue = 33;
    private const int FixedSize = 32;
    private const int OffFileInformationClass = 2;
    private const int OffFlags = 3;
    private const int OffFileIndex = 4;
    private const int OffFileId = 8;
    private const int OffFileNameOffset = 24;
    private const int OffFileNameLength = 26;
    private const int OffOutputBufferLength = 28;
    private const int NamePosition = FixedSize;

    /// <param name="pattern">Search pattern such as "*"; UTF-16LE on the wire.</param>
    public QueryDirectoryRequest(Smb2FileId fileId, string pattern, FileInformationClass informationClass, int outputBufferLength)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentOutOfRangeException.ThrowIfNegative(outputBufferLength);
        FileId = fileId;
        Pattern = pattern;
        FileInformationClass = informationClass;
        OutputBufferLength = outputBufferLength;
    }

    public Smb2Command Command => Smb2Command.QueryDirectory;
    public Smb2FileId FileId { get; }
    public string Pattern { get; }
    public FileInformationClass FileInformationClass { get; }
    public int OutputBufferLength { get; }
    public QueryDirectoryFlags Flags { get; init; }
    /// <summary>Used with <see cref="QueryDirectoryFlags.IndexSpecified"/>.</summary>
    public uint FileIndex { get; init; }

    /// <summary>StructureSize 33 counts one Buffer byte, so an empty pattern still writes one byte.</summary>
    public int BodySize => FixedSize + Math.Max(1, Smb2Wire.Utf16Length(Pattern));
    public int PayloadSize => OutputBufferLength;

    public void WriteBody(Span<byte> body)
    {
        var nameLength = Smb2Wire.Utf16Length(Pattern);
        Smb2Wire.CheckFits(nameLength, ushort.MaxValue, "QUERY_DIRECTORY", nameof(Pattern));
        body[..BodySize].Clear();
        Smb2Wire.WriteStructureSize(body, StructureSizeValue);
        body[OffFileInformationClass] = (byte)FileInformationClass;
        body[OffFlags] = (byte)Flags;
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffFileIndex..], FileIndex);
        FileId.WriteTo(body[OffFileId..]);
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffFileNameOffset..], nameLength == 0 ? (ushort)0 : (ushort)Smb2Wire.HeaderOffset(NamePosition));
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffFileNameLength..], (ushort)nameLength);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffOutputBufferLength..], (uint)OutputBufferLength);
        Smb2Wire.WriteUtf16(Pattern, body[NamePosition..]);
    }
}

/// <summary>
/// SMB2 QUERY_DIRECTORY response (MS-SMB2 §2.2.34). The output buffer is not copied; slice
/// the message with <see cref="OutputBufferRange"/> and hand it to <see cref="DirectoryEntryParser"/>.
/// </summary>
internal sealed class QueryDirectoryResponse
{
    public const ushort StructureSizeValue = 9;
    private const string Name = "QUERY_DIRECTORY response";
    private const int FixedSize = 8;
    private const int OffOutputBufferOffset = 2;
    private const int OffOutputBufferLength = 4;

    public int OutputBufferOffset { get; private init; }
    public int OutputBufferLength { get; private init; }
    public Range OutputBufferRange => new(OutputBufferOffset, OutputBufferOffset + OutputBufferLength);

    public static QueryDirectoryResponse Parse(ReadOnlySpan<byte> message)
    {
        var (offset, length) = OutputBuffer.Parse(message, StructureSizeValue, FixedSize, OffOutputBufferOffset, OffOutputBufferLength, Name);
        return new QueryDirectoryResponse { OutputBufferOffset = offset, OutputBufferLength = length };
    }
}

/// <summary>The StructureSize-9 "offset(2) + length(4) + buffer" response shape shared by QUERY_DIRECTORY and QUERY_INFO.</summary>
internal static class OutputBuffer
{
    public static (int Offset, int Length) Parse(ReadOnlySpan<byte> message, ushort structureSize, int fixedSize,
        int offsetField, int lengthField, string messageName)
    {
        var body = Smb2Wire.CheckBody(message, structureSize, fixedSize, messageName);
        var range = Smb2Wire.CheckBuffer(message,
            BinaryPrimitives.ReadUInt16LittleEndian(body[offsetField..]),
            BinaryPrimitives.ReadUInt32LittleEndian(body[lengthField..]),
            Smb2Wire.HeaderOffset(fixedSize), messageName, "OutputBuffer");
        return range.GetOffsetAndLength(message.Length);
    }
}
