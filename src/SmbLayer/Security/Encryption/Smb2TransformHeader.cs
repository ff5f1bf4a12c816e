using System.Buffers.Binary;

namespace SmbLayer.Security;

/// <summary>
/// The SMB2 TRANSFORM_HEADER (MS-SMB2 §2.2.41) that precedes an encrypted message:
/// ProtocolId 0xFD 'S' 'M' 'B' (4), Signature = the AEAD tag (16), Nonce (16: 11 bytes used by
/// AES-CCM, 12 by AES-GCM, the rest zero), OriginalMessageSize (4), Reserved (2),
/// Flags / EncryptionAlgorithm (2, always 0x0001), SessionId (8). 52 bytes in all.
/// </summary>
internal readonly struct Smb2TransformHeader
{
    public const int Size = 52;
    public const uint ProtocolIdValue = 0x424D53FD;
    public const int SignatureOffset = 4;
    public const int SignatureSize = 16;
    public const int NonceOffset = 20;
    public const int NonceFieldSize = 16;
    public const int OffOriginalMessageSize = 36;
    public const int OffReserved = 40;
    public const int OffFlags = 42;
    public const int OffSessionId = 44;

    /// <summary>The additional authenticated data: the header from Nonce to the end (§3.1.4.3).</summary>
    public const int AadOffset = NonceOffset;
    public const int AadSize = Size - NonceOffset;

    /// <summary>Flags (3.1.1) / EncryptionAlgorithm (3.0, 3.0.2): SMB2_TRANSFORM_HEADER_FLAG_ENCRYPTED = SMB2_ENCRYPTION_AES128_CCM = 0x0001.</summary>
    public const ushort EncryptedFlag = 0x0001;

    public uint OriginalMessageSize { get; init; }
    public ushort Flags { get; init; }
    public ulong SessionId { get; init; }

    /// <summary>True when <paramref name="frame"/> starts with the TRANSFORM protocol id.</summary>
    public static bool IsTransform(ReadOnlySpan<byte> frame) =>
        frame.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(frame) == ProtocolIdValue;

    /// <summary>Reads the fixed fields; throws <see cref="SmbProtocolException"/> when the header is short or its flags are wrong.</summary>
    public static Smb2TransformHeader ReadFrom(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new SmbProtocolException($"TRANSFORM header truncated: {source.Length} bytes, need {Size}.");
        }
        if (BinaryPrimitives.ReadUInt32LittleEndian(source) != ProtocolIdValue)
        {
            throw new SmbProtocolException("Not a TRANSFORM header (protocol id is not 0xFD 'SMB').");
        }
        var flags = BinaryPrimitives.ReadUInt16LittleEndian(source[OffFlags..]);
        if (flags != EncryptedFlag)
        {
            throw new SmbProtocolException($"TRANSFORM header Flags/EncryptionAlgorithm is 0x{flags:X4}, expected 0x{EncryptedFlag:X4}.");
        }
        return new Smb2TransformHeader
        {
            OriginalMessageSize = BinaryPrimitives.ReadUInt32LittleEndian(source[OffOriginalMessageSize..]),
            Flags = flags,
            SessionId = BinaryPrimitives.ReadUInt64LittleEndian(source[OffSessionId..]),
        };
    }

    /// <summary>Writes every field but Signature (left zero) and Nonce (written by the cipher).</summary>
    public void WriteTo(Span<byte> destination)
    {
        destination[..Size].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(destination, ProtocolIdValue);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[OffOriginalMessageSize..], OriginalMessageSize);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[OffFlags..], Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[OffSessionId..], SessionId);
    }
}
