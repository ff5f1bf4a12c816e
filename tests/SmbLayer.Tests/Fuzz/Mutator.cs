using System.Buffers.Binary;
using SmbLayer.Protocol;

namespace SmbLayer.Tests.Fuzz;

/// <summary>Kinds of damage done to a valid server message.</summary>
internal enum Mutation
{
    BitFlips,
    RandomBytes,
    BoundaryField16,
    BoundaryField32,
    Truncate,
    Extend,
    DuplicateSlice,
    DuplicateMessage,
    WrongCommand,
    WrongMessageId,
    HugeCredits,
    Stacked,
}

/// <summary>Deterministic mutations (one <see cref="Random"/> per case, seeded from the run seed and the case number).</summary>
internal static class Mutator
{
    public static readonly Mutation[] Kinds = Enum.GetValues<Mutation>();

    /// <summary>Values that break length, offset and count fields: zero, one, sign edges, all ones, and near the message size.</summary>
    private static uint[] Boundaries(int length) =>
    [
        0, 1, 2, 7, 8, 63, 64, 65, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
        0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, (uint)length, (uint)length - 1, (uint)length + 1, (uint)length - 64, 16 * 1024 * 1024,
    ];

    public static byte[] Apply(byte[] seed, Mutation kind, Random random)
    {
        var m = (byte[])seed.Clone();
        if (m.Length < 8)
        {
            return m; // nothing left worth damaging (an earlier stacked mutation truncated it)
        }
        switch (kind)
        {
            case Mutation.BitFlips:
                for (var i = random.Next(1, 5); i > 0; i--)
                {
                    var at = random.Next(m.Length);
                    m[at] ^= (byte)(1 << random.Next(8));
                }
                return m;
            case Mutation.RandomBytes:
                for (var i = random.Next(1, 9); i > 0; i--)
                {
                    m[random.Next(m.Length)] = (byte)random.Next(256);
                }
                return m;
            case Mutation.BoundaryField16:
            case Mutation.BoundaryField32:
            {
                // Mostly the body's fixed part (where the lengths, offsets and counts live), sometimes anywhere.
                var size = kind == Mutation.BoundaryField16 ? 2 : 4;
                var start = random.Next(4) == 0 ? 0 : Math.Min(Smb2Header.Size, m.Length - size);
                var end = random.Next(4) == 0 ? m.Length - size : Math.Min(m.Length - size, Smb2Header.Size + 64);
                var at = start + random.Next(Math.Max(1, end - start + 1));
                at = Math.Clamp(at & ~(size - 1), 0, m.Length - size);
                var value = Boundaries(m.Length)[random.Next(Boundaries(m.Length).Length)];
                if (size == 2)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(m.AsSpan(at), (ushort)value);
                }
                else
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(at), value);
                }
                return m;
            }
            case Mutation.Truncate:
                return m[..random.Next(m.Length)];
            case Mutation.Extend:
            {
                var extra = new byte[random.Next(1, 64)];
                random.NextBytes(extra);
                var at = random.Next(m.Length + 1);
                return [.. m[..at], .. extra, .. m[at..]];
            }
            case Mutation.DuplicateSlice:
            {
                var from = random.Next(m.Length);
                var length = random.Next(1, Math.Min(128, m.Length - from) + 1);
                var at = random.Next(m.Length + 1);
                return [.. m[..at], .. m.AsSpan(from, length), .. m[at..]];
            }
            case Mutation.DuplicateMessage:
            {
                // Two copies back to back; sometimes chained through NextCommand (a compound), sometimes not.
                if (random.Next(2) == 0 && m.Length >= Smb2Header.Size)
                {
                    var padded = (m.Length + 7) & ~7;
                    var first = new byte[padded];
                    m.CopyTo(first, 0);
                    BinaryPrimitives.WriteUInt32LittleEndian(first.AsSpan(20), (uint)padded);
                    return [.. first, .. m];
                }
                return [.. m, .. m];
            }
            case Mutation.WrongCommand:
                if (m.Length >= Smb2Header.Size)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(m.AsSpan(12), (ushort)(random.Next(3) == 0 ? random.Next(65536) : random.Next(0x14)));
                }
                return m;
            case Mutation.WrongMessageId:
                if (m.Length >= Smb2Header.Size)
                {
                    var ids = new[] { 0UL, 1UL, ulong.MaxValue, ulong.MaxValue - 1, (ulong)random.NextInt64() };
                    BinaryPrimitives.WriteUInt64LittleEndian(m.AsSpan(24), ids[random.Next(ids.Length)]);
                }
                return m;
            case Mutation.HugeCredits:
                if (m.Length >= Smb2Header.Size)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(m.AsSpan(14), (ushort)(random.Next(2) == 0 ? 0xFFFF : 0x8000 + random.Next(0x8000)));
                    BinaryPrimitives.WriteUInt16LittleEndian(m.AsSpan(6), (ushort)random.Next(65536)); // CreditCharge too
                }
                return m;
            case Mutation.Stacked:
            {
                var result = m;
                for (var i = random.Next(2, 4); i > 0 && result.Length > 0; i--)
                {
                    result = Apply(result, Kinds[random.Next(Kinds.Length - 1)], random);
                }
                return result;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }
}
