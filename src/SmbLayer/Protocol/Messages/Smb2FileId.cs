using System.Buffers.Binary;

namespace SmbLayer.Protocol;

/// <summary>SMB2_FILEID (MS-SMB2 §2.2.14.1): persistent and volatile halves of an open's handle.</summary>
internal readonly record struct Smb2FileId(ulong Persistent, ulong Volatile)
{
    public const int Size = 16;
    private const int OffPersistent = 0;
    private const int OffVolatile = 8;

    /// <summary>The all-ones id used for compounded related requests (MS-SMB2 §3.2.4.1.4).</summary>
    public static readonly Smb2FileId Related = new(ulong.MaxValue, ulong.MaxValue);

    public static Smb2FileId Read(ReadOnlySpan<byte> source) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(source[OffPersistent..]),
        BinaryPrimitives.ReadUInt64LittleEndian(source[OffVolatile..]));

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination[OffPersistent..], Persistent);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[OffVolatile..], Volatile);
    }

    public override string ToString() => $"{Persistent:X16}:{Volatile:X16}";
}
