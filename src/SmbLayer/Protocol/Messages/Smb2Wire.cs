using System.Buffers.Binary;
using System.Text;

namespace SmbLayer.Protocol;

/// <summary>
/// Shared checks and helpers for message codecs. Every offset handled here is relative to
/// the start of the SMB2 header (MS-SMB2 §2.2), so a checked range slices the whole message.
/// </summary>
internal static class Smb2Wire
{
    /// <summary>Body position of the StructureSize field every SMB2 body starts with.</summary>
    public const int StructureSizeOffset = 0;
    public const int StructureSizeLength = 2;
    public const int Alignment = 8;
    public const int FileIdSize = 16;
    public const int GuidSize = 16;

    /// <summary>
    /// Checks that <paramref name="message"/> holds a header plus <paramref name="fixedBodySize"/>
    /// body bytes and that the body's StructureSize is <paramref name="structureSize"/>;
    /// returns the body (everything after the header).
    /// </summary>
    public static ReadOnlySpan<byte> CheckBody(ReadOnlySpan<byte> message, ushort structureSize, int fixedBodySize, string messageName)
    {
        var need = Smb2Header.Size + fixedBodySize;
        if (message.Length < need)
        {
            throw new SmbProtocolException($"{messageName} truncated: {message.Length} bytes, need at least {need}.");
        }
        var body = message[Smb2Header.Size..];
        var actual = BinaryPrimitives.ReadUInt16LittleEndian(body[StructureSizeOffset..]);
        if (actual != structureSize)
        {
            throw new SmbProtocolException($"{messageName} StructureSize is {actual}, expected {structureSize}.");
        }
        return body;
    }

    /// <summary>
    /// Validates a variable buffer given by a header-relative offset and a length. The buffer
    /// must lie after the fixed part of the body (<paramref name="minOffset"/>) and end inside the
    /// message. A zero length is accepted with any offset (servers often send 0) and yields an empty range.
    /// </summary>
    public static Range CheckBuffer(ReadOnlySpan<byte> message, long offset, long length, int minOffset, string messageName, string field)
    {
        if (length == 0)
        {
            return new Range(0, 0);
        }
        if (length < 0)
        {
            throw new SmbProtocolException($"{messageName} {field} length {length} is negative.");
        }
        if (offset < minOffset)
        {
            throw new SmbProtocolException($"{messageName} {field} offset {offset} points before the end of the fixed part ({minOffset}).");
        }
        if (offset > message.Length || length > message.Length - offset)
        {
            throw new SmbProtocolException(
                $"{messageName} {field} offset {offset} + length {length} runs past the end of the message ({message.Length} bytes).");
        }
        return new Range((int)offset, (int)(offset + length));
    }

    /// <summary>Rounds <paramref name="value"/> up to the next multiple of 8.</summary>
    public static int Align8(int value) => (value + (Alignment - 1)) & ~(Alignment - 1);

    public static void WriteStructureSize(Span<byte> body, ushort structureSize) =>
        BinaryPrimitives.WriteUInt16LittleEndian(body[StructureSizeOffset..], structureSize);

    /// <summary>Decodes a UTF-16LE name; an odd byte count is a protocol error.</summary>
    public static string ReadUtf16(ReadOnlySpan<byte> bytes, string messageName, string field)
    {
        if ((bytes.Length & 1) != 0)
        {
            throw new SmbProtocolException($"{messageName} {field} length {bytes.Length} is not a whole number of UTF-16 code units.");
        }
        return Encoding.Unicode.GetString(bytes);
    }

    /// <summary>Encodes <paramref name="text"/> as UTF-16LE into <paramref name="destination"/>; returns the bytes written.</summary>
    public static int WriteUtf16(string text, Span<byte> destination) => Encoding.Unicode.GetBytes(text, destination);

    public static int Utf16Length(string text) => Encoding.Unicode.GetByteCount(text);

    public static Guid ReadGuid(ReadOnlySpan<byte> source) => new(source[..GuidSize]);

    public static void WriteGuid(Guid guid, Span<byte> destination)
    {
        if (!guid.TryWriteBytes(destination[..GuidSize]))
        {
            throw new ArgumentException("Destination too small for a GUID.", nameof(destination));
        }
    }

    /// <summary>Header-relative offset of body position <paramref name="bodyPosition"/>.</summary>
    public static int HeaderOffset(int bodyPosition) => Smb2Header.Size + bodyPosition;

    /// <summary>Throws when <paramref name="value"/> does not fit the wire field it is written to.</summary>
    public static void CheckFits(long value, long max, string messageName, string field)
    {
        if (value < 0 || value > max)
        {
            throw new ArgumentOutOfRangeException(field, value, $"{messageName} {field} must be between 0 and {max}.");
        }
    }
}
