using System.Buffers.Binary;
using System.Numerics;

namespace SmbLayer.Security;

/// <summary>
/// MD4 (RFC 1320). .NET does not ship it; NTLM needs it for NTOWF (the NT hash of the password).
/// Not for any other use: MD4 is broken.
/// </summary>
internal static class Md4
{
    public const int HashSize = 16;
    private const int BlockSize = 64;
    private const int LengthFieldSize = 8;
    private const uint Round2Constant = 0x5A827999;
    private const uint Round3Constant = 0x6ED9EBA1;

    public static byte[] HashData(ReadOnlySpan<byte> data)
    {
        var hash = new byte[HashSize];
        HashData(data, hash);
        return hash;
    }

    public static void HashData(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        if (destination.Length < HashSize)
        {
            throw new ArgumentException($"MD4 destination is {destination.Length} bytes; need {HashSize}.", nameof(destination));
        }
        uint a = 0x67452301, b = 0xEFCDAB89, c = 0x98BADCFE, d = 0x10325476;
        Span<uint> x = stackalloc uint[16];

        var fullBlocks = data.Length / BlockSize;
        for (var i = 0; i < fullBlocks; i++)
        {
            ProcessBlock(data.Slice(i * BlockSize, BlockSize), x, ref a, ref b, ref c, ref d);
        }

        // RFC 1320 §3.1-3.2: append 0x80, zeros to 56 mod 64, then the bit length as 64-bit little-endian.
        var tail = data[(fullBlocks * BlockSize)..];
        Span<byte> last = stackalloc byte[BlockSize * 2];
        last.Clear();
        tail.CopyTo(last);
        last[tail.Length] = 0x80;
        var lastLength = tail.Length + 1 + LengthFieldSize <= BlockSize ? BlockSize : BlockSize * 2;
        BinaryPrimitives.WriteUInt64LittleEndian(last[(lastLength - LengthFieldSize)..], (ulong)data.Length * 8);
        for (var offset = 0; offset < lastLength; offset += BlockSize)
        {
            ProcessBlock(last.Slice(offset, BlockSize), x, ref a, ref b, ref c, ref d);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(destination, a);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], b);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], c);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], d);
    }

    private static void ProcessBlock(ReadOnlySpan<byte> block, Span<uint> x, ref uint a, ref uint b, ref uint c, ref uint d)
    {
        for (var i = 0; i < 16; i++)
        {
            x[i] = BinaryPrimitives.ReadUInt32LittleEndian(block[(i * 4)..]);
        }
        uint aa = a, bb = b, cc = c, dd = d;

        // Round 1: F(x,y,z) = xy v not(x)z; shifts 3, 7, 11, 19.
        for (var i = 0; i < 16; i += 4)
        {
            a = BitOperations.RotateLeft(a + F(b, c, d) + x[i], 3);
            d = BitOperations.RotateLeft(d + F(a, b, c) + x[i + 1], 7);
            c = BitOperations.RotateLeft(c + F(d, a, b) + x[i + 2], 11);
            b = BitOperations.RotateLeft(b + F(c, d, a) + x[i + 3], 19);
        }

        // Round 2: G(x,y,z) = xy v xz v yz; word order by column; shifts 3, 5, 9, 13.
        for (var i = 0; i < 4; i++)
        {
            a = BitOperations.RotateLeft(a + G(b, c, d) + x[i] + Round2Constant, 3);
            d = BitOperations.RotateLeft(d + G(a, b, c) + x[i + 4] + Round2Constant, 5);
            c = BitOperations.RotateLeft(c + G(d, a, b) + x[i + 8] + Round2Constant, 9);
            b = BitOperations.RotateLeft(b + G(c, d, a) + x[i + 12] + Round2Constant, 13);
        }

        // Round 3: H(x,y,z) = x xor y xor z; word order 0,8,4,12 / 2,10,6,14 / 1,9,5,13 / 3,11,7,15; shifts 3, 9, 11, 15.
        ReadOnlySpan<int> round3Start = [0, 2, 1, 3];
        foreach (var i in round3Start)
        {
            a = BitOperations.RotateLeft(a + H(b, c, d) + x[i] + Round3Constant, 3);
            d = BitOperations.RotateLeft(d + H(a, b, c) + x[i + 8] + Round3Constant, 9);
            c = BitOperations.RotateLeft(c + H(d, a, b) + x[i + 4] + Round3Constant, 11);
            b = BitOperations.RotateLeft(b + H(c, d, a) + x[i + 12] + Round3Constant, 15);
        }

        a += aa;
        b += bb;
        c += cc;
        d += dd;
    }

    private static uint F(uint x, uint y, uint z) => (x & y) | (~x & z);

    private static uint G(uint x, uint y, uint z) => (x & y) | (x & z) | (y & z);

    private static uint H(uint x, uint y, uint z) => x ^ y ^ z;
}
