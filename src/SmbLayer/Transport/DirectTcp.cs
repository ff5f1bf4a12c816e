using System.Buffers.Binary;

namespace SmbLayer.Transport;

/// <summary>
/// Direct TCP transport framing (MS-SMB2 §2.1): each message is preceded by a 4-byte
/// header, a zero byte then a 24-bit big-endian length.
/// </summary>
internal static class DirectTcp
{
    public const int FrameHeaderSize = 4;

    /// <summary>Largest length the 24-bit field can carry.</summary>
    public const int MaxEncodableLength = 0xFFFFFF;

    public static void WriteFrameHeader(Span<byte> destination, int length)
    {
        if ((uint)length > MaxEncodableLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "Direct TCP frames carry at most 16 MiB - 1.");
        }
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)length);
    }

    /// <summary>Reads a frame header; throws <see cref="SmbProtocolException"/> when it is malformed or the length is outside (0, maxFrameLength].</summary>
    public static int ReadFrameLength(ReadOnlySpan<byte> header, int maxFrameLength)
    {
        var value = BinaryPrimitives.ReadUInt32BigEndian(header);
        if ((value & 0xFF000000) != 0)
        {
            throw new SmbProtocolException($"Bad Direct TCP frame header: first byte 0x{value >> 24:X2}, expected 0x00.");
        }
        var length = (int)value;
        if (length == 0)
        {
            throw new SmbProtocolException("Empty Direct TCP frame.");
        }
        if (length > maxFrameLength)
        {
            throw new SmbProtocolException($"Direct TCP frame of {length} bytes exceeds the limit of {maxFrameLength}.");
        }
        return length;
    }
}
