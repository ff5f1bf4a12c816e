using System.Buffers.Binary;

namespace SmbLayer.Protocol;

/// <summary>One SMB2 ERROR Context (MS-SMB2 §2.2.2.1), 3.1.1 only.</summary>
internal sealed record Smb2ErrorContext(uint ErrorId, byte[] Data);

/// <summary>
/// SMB2 ERROR Response (MS-SMB2 §2.2.2). Any command may be answered with this body
/// (StructureSize 9) when the header status is an error; the transport checks the status
/// before choosing the command's own parser.
/// </summary>
internal sealed class Smb2ErrorResponse
{
    public const ushort StructureSizeValue = 9;
    private const string Name = "SMB2 ERROR response";
    private const int FixedSize = 8;
    private const int OffErrorContextCount = 2;
    private const int OffByteCount = 4;
    private const int ErrorDataPosition = FixedSize;

    // ERROR Context layout (§2.2.2.1).
    private const int ContextHeaderSize = 8;
    private const int OffContextDataLength = 0;
    private const int OffContextErrorId = 4;

    public byte ErrorContextCount { get; private init; }
    public uint ByteCount { get; private init; }

    /// <summary>Raw ErrorData (ByteCount bytes, copied: error data is small).</summary>
    public byte[] ErrorData { get; private init; } = [];

    /// <summary>Parsed error contexts when <see cref="ErrorContextCount"/> is non-zero.</summary>
    public IReadOnlyList<Smb2ErrorContext> ErrorContexts { get; private init; } = [];

    public static Smb2ErrorResponse Parse(ReadOnlySpan<byte> message)
    {
        var body = Smb2Wire.CheckBody(message, StructureSizeValue, FixedSize, Name);
        var contextCount = body[OffErrorContextCount];
        var byteCount = BinaryPrimitives.ReadUInt32LittleEndian(body[OffByteCount..]);
        var dataRange = Smb2Wire.CheckBuffer(message, Smb2Wire.HeaderOffset(ErrorDataPosition), byteCount,
            Smb2Wire.HeaderOffset(FixedSize), Name, "ErrorData");
        var data = message[dataRange];

        var contexts = new List<Smb2ErrorContext>();
        var pos = 0;
        for (var i = 0; i < contextCount; i++)
        {
            if (data.Length - pos < ContextHeaderSize)
            {
                throw new SmbProtocolException(
                    $"{Name} error context {i} header at {pos} runs past ErrorData ({data.Length} bytes).");
            }
            var length = BinaryPrimitives.ReadUInt32LittleEndian(data[(pos + OffContextDataLength)..]);
            var errorId = BinaryPrimitives.ReadUInt32LittleEndian(data[(pos + OffContextErrorId)..]);
            var dataStart = pos + ContextHeaderSize;
            if (length > (uint)(data.Length - dataStart))
            {
                throw new SmbProtocolException(
                    $"{Name} error context {i} ErrorDataLength {length} exceeds the {data.Length - dataStart} bytes left.");
            }
            contexts.Add(new Smb2ErrorContext(errorId, data.Slice(dataStart, (int)length).ToArray()));
            // Contexts are 8-byte aligned within ErrorData; the last may omit its padding.
            pos = Math.Min(Smb2Wire.Align8(dataStart + (int)length), data.Length);
        }

        return new Smb2ErrorResponse
        {
            ErrorContextCount = contextCount,
            ByteCount = byteCount,
            ErrorData = data.ToArray(),
            ErrorContexts = contexts,
        };
    }

    /// <summary>True when <paramref name="message"/>'s body has the ERROR response StructureSize.</summary>
    public static bool IsErrorBody(ReadOnlySpan<byte> message) =>
        message.Length >= Smb2Header.Size + Smb2Wire.StructureSizeLength
        && BinaryPrimitives.ReadUInt16LittleEndian(message[Smb2Header.Size..]) == StructureSizeValue;
}
