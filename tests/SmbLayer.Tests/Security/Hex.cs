namespace SmbLayer.Tests.Security;

internal static class Hex
{
    /// <summary>Parses hex with optional spaces/newlines.</summary>
    public static byte[] Bytes(string hex)
    {
        var clean = new System.Text.StringBuilder(hex.Length);
        foreach (var c in hex)
        {
            if (!char.IsWhiteSpace(c))
            {
                clean.Append(c);
            }
        }
        return Convert.FromHexString(clean.ToString());
    }

    public static string Of(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes);
}
